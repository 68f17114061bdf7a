package dev.pdecnn.cli;

import com.google.gson.JsonObject;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded fuzzing of the two files a user hands the trainer: a checkpoint (its safetensors header and trainer
 * state) and a config file. Every mutant is run with a data folder that does not exist, so even a mutant that
 * happens to be valid must end in exit 2 (at the data); what is asserted is the contract for every input: exit
 * 2, exactly one line on stderr, no stack trace, within a few seconds, and the run folder untouched.
 *
 * <p>Then the paths a user names: every command's output option (found by walking the command tree, so a new
 * command that writes a file is covered as soon as it exists) against every file of a run folder, spelled several
 * ways, and against the command's own input; and run names that would leave --out.
 */
class FuzzTest {
    private static final int CHECKPOINT_CASES = 128;
    private static final int CONFIG_CASES = 140;
    private static final Duration LIMIT = Duration.ofSeconds(5);

    /** Numbers at the edges of int, long and double, and a few that used to wrap. */
    private static final List<String> EXTREMES = List.of("2147483647", "-2147483648", "2147483648", "4294967297",
            "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551617",
            "1e308", "-1e308", "1e309", "4.9e-324", "NaN", "Infinity", "-Infinity", "-1", "0", "0.5", "1e-320",
            "99999999999999999999999999999999999999");

    @TempDir
    static Path tmp;
    static Path good;
    static Path nowhere;
    static Path data;

    @BeforeAll
    static void trainOneEpoch() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 64, 32, 7);
        nowhere = tmp.resolve("nowhere");
        good = CliRunner.tinyRun(data, tmp.resolve("runs"), "base").resolve("last.safetensors");
    }

    private static void check(String what, Path runDir, String... args) throws Exception {
        refused(what, runDir, "", args);
    }

    /** The contract, and the one line names {@code mention} (so the refusal is for the reason under test). */
    private static void refused(String what, Path runDir, String mention, String... args) throws Exception {
        Map<String, String> before = HostileInputTest.snapshot(runDir);
        CliRunner.Result r = assertTimeoutPreemptively(LIMIT, () -> CliRunner.run(args), what);
        String err = r.err();
        assertEquals(2, r.code(), what + ": exit code; stderr: " + err + " stdout: " + r.out());
        assertEquals(1, err.strip().lines().count(), what + ": one line: " + err);
        assertFalse(err.contains("\tat ") || err.contains("Exception:") || err.contains("Error:"),
                what + ": no trace or exception class: " + err);
        assertTrue(err.startsWith("error: "), what + ": " + err);
        assertTrue(err.contains(mention), what + ": '" + mention + "' in " + err);
        assertEquals(before, HostileInputTest.snapshot(runDir), what + ": run folder untouched");
    }

    // ------------------------------------------------------------------------------------------ checkpoints

    @Test
    void mutatedCheckpoints() throws Exception {
        CheckpointEdit.Parts base = CheckpointEdit.read(good);
        byte[] header = base.header().getBytes(StandardCharsets.UTF_8);
        SplittableRandom rnd = new SplittableRandom(20240611);
        long t0 = System.nanoTime();
        for (int i = 0; i < CHECKPOINT_CASES; i++) {
            Path run = tmp.resolve("fuzz-ck/" + i);
            Path file = run.resolve("last.safetensors");
            String kind = mutateCheckpoint(rnd, base, header, i % 8, file);
            String what = "checkpoint case " + i + " (" + kind + ")";
            if (rnd.nextBoolean()) {
                check(what, run, "eval", file.toString(), "--data-dir", nowhere.toString());
            } else {
                check(what, run, "--resume", run.toString(), "--data-dir", nowhere.toString());
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        assertTrue(secs < 30, CHECKPOINT_CASES + " checkpoint cases took " + secs + " s");
    }

    /** Writes one mutant of the base checkpoint to {@code file}; returns what kind it is. */
    private static String mutateCheckpoint(SplittableRandom rnd, CheckpointEdit.Parts base, byte[] header, int kind,
                                           Path file) throws Exception {
        switch (kind) {
            case 0 -> { // random bytes in the header
                byte[] h = header.clone();
                int n = 1 + rnd.nextInt(8);
                for (int k = 0; k < n; k++) {
                    h[rnd.nextInt(h.length)] = (byte) rnd.nextInt(256);
                }
                CheckpointEdit.write(file, h, base.data());
                return "random header bytes";
            }
            case 1 -> { // a state field or config key at a numeric extreme
                String v = EXTREMES.get(rnd.nextInt(EXTREMES.size()));
                String field = pick(rnd, "epochsDone", "step", "bestEpoch", "bestTestAcc", "wallSeconds",
                        "config.K", "config.channels", "config.blocks", "config.epochs", "config.batch_size",
                        "config.pad_crop", "config.seed", "config.lr", "config.momentum", "config.dt",
                        "config.limit_test", "mean", "std");
                CheckpointEdit.withState(base, file, replaceField(base.state(), field, v));
                return field + " = " + v;
            }
            case 2 -> { // deep nesting
                int depth = pick(rnd, 50, 300, 5000, 200000);
                String nest = "[".repeat(depth) + "]".repeat(depth);
                String field = pick(rnd, "config", "history", "mean", "config.widths", "model");
                CheckpointEdit.withState(base, file, replaceField(base.state(), field, nest));
                return field + " nested " + depth;
            }
            case 3 -> { // huge values
                String field = pick(rnd, "model", "config.name", "history", "mean", "config.widths");
                String huge = rnd.nextBoolean() ? "\"" + "x".repeat(1_000_000) + "\""
                        : "[" + "1,".repeat(100_000) + "1]";
                CheckpointEdit.withState(base, file, replaceField(base.state(), field, huge));
                return field + " huge";
            }
            case 4 -> { // type confusion
                String v = pick(rnd, "null", "true", "\"abc\"", "{}", "[]", "[null]", "{\"a\": 1}", "\"\"");
                String field = pick(rnd, "model", "epochsDone", "step", "mean", "std", "history", "config",
                        "config.widths", "config.model", "config.K", "format");
                CheckpointEdit.withState(base, file, replaceField(base.state(), field, v));
                return field + " = " + v;
            }
            case 5 -> { // the trainer state is not JSON, or truncated
                String s = CheckpointEdit.GSON.toJson(base.state());
                String cut = rnd.nextBoolean() ? s.substring(0, rnd.nextInt(s.length())) : "not json " + s;
                CheckpointEdit.withState(base, file, cut);
                return "state text cut or garbled";
            }
            case 6 -> { // tensor entries: dtype, shape, offsets
                JsonObject h = base.json();
                String name = pick(rnd, "fc.weight", "conv0.weight", "bn0.running_var");
                JsonObject t = h.getAsJsonObject(name);
                switch (rnd.nextInt(3)) {
                    case 0 -> t.addProperty("dtype", pick(rnd, "F16", "BF16", "I64", "X", "F64", ""));
                    case 1 -> t.add("shape", com.google.gson.JsonParser.parseString(pick(rnd, "[2147483647, 2147483647]",
                            "[-1]", "[0]", "[]", "[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[9223372036854775807]")));
                    default -> t.add("data_offsets", com.google.gson.JsonParser.parseString(pick(rnd, "[0, 0]",
                            "[-8, 8]", "[0, 9223372036854775807]", "[4, 2]", "[0, 1e30]")));
                }
                CheckpointEdit.write(file, h, base.data());
                return name + " entry edited";
            }
            default -> { // the file itself: length prefix or truncation
                byte[] all = Files.readAllBytes(good);
                byte[] out;
                if (rnd.nextBoolean()) {
                    out = Arrays.copyOf(all, rnd.nextInt(all.length));
                } else {
                    out = all.clone();
                    long len = pick(rnd, Long.MAX_VALUE, -1L, 1L << 40, 0L, 7L, (long) all.length);
                    ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, len);
                }
                Files.createDirectories(file.getParent());
                Files.write(file, out);
                return "file truncated or length prefix edited";
            }
        }
    }

    /** The state as JSON text with {@code field} ("x" or "config.x") replaced by the raw JSON {@code value}. */
    private static String replaceField(JsonObject state, String field, String value) {
        String marker = "\"__FUZZ__\"";
        JsonObject target = field.startsWith("config.") ? state.getAsJsonObject("config") : state;
        target.addProperty(field.substring(field.indexOf('.') + 1), "__FUZZ__");
        return CheckpointEdit.GSON.toJson(state).replace(marker, value);
    }

    // ------------------------------------------------------------------------------------------ configs

    private static final String CONFIG = """
            model: pde
            channels: 8
            K: 5
            dt: 0.2
            diffusivity: perona_malik
            pm_lambda: 2.0
            widths: [16, 32, 64, 64]
            epochs: 100
            batch_size: 32
            lr: 0.01
            momentum: 0.9
            weight_decay: 0.0005
            hflip: true
            seed: 1
            """;

    @Test
    void mutatedConfigs() throws Exception {
        SplittableRandom rnd = new SplittableRandom(977);
        Path out = tmp.resolve("fuzz-runs");
        long t0 = System.nanoTime();
        for (int i = 0; i < CONFIG_CASES; i++) {
            Path f = tmp.resolve("fuzz-cfg/" + i + ".yaml");
            Files.createDirectories(f.getParent());
            String kind = mutateConfig(rnd, i % 7, f);
            check("config case " + i + " (" + kind + ")", out, "--config", f.toString(), "--data-dir",
                    nowhere.toString(), "--out", out.toString());
            assertFalse(Files.exists(out), "config case " + i + " created " + out);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        assertTrue(secs < 30, CONFIG_CASES + " config cases took " + secs + " s");
    }

    private static String mutateConfig(SplittableRandom rnd, int kind, Path f) throws Exception {
        String[] lines = CONFIG.split("\n");
        int line = rnd.nextInt(lines.length);
        String key = lines[line].substring(0, lines[line].indexOf(':'));
        switch (kind) {
            case 0 -> {
                byte[] b = CONFIG.getBytes(StandardCharsets.UTF_8);
                int n = 1 + rnd.nextInt(8);
                for (int k = 0; k < n; k++) {
                    b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                }
                Files.write(f, b);
                return "random bytes";
            }
            case 1 -> {
                String v = EXTREMES.get(rnd.nextInt(EXTREMES.size()));
                lines[line] = key + ": " + pick(rnd, v, "[" + v + "]", "[16, " + v + "]", "\"" + v + "\"");
                Files.writeString(f, String.join("\n", lines) + "\n");
                return lines[line];
            }
            case 2 -> {
                int depth = pick(rnd, 20, 1000, 100000);
                lines[line] = key + ": " + (rnd.nextBoolean() ? "[".repeat(depth) + "]".repeat(depth)
                        : "{a: ".repeat(depth) + "1" + "}".repeat(depth));
                Files.writeString(f, String.join("\n", lines) + "\n");
                return key + " nested " + depth;
            }
            case 3 -> {
                int size = pick(rnd, 60_000, 70_000, 5_000_000);
                lines[line] = key + ": " + (rnd.nextBoolean() ? "x".repeat(size) : "[" + "1, ".repeat(size / 3) + "1]");
                Files.writeString(f, String.join("\n", lines) + "\n");
                return key + " of " + size + " characters";
            }
            case 4 -> {
                String extra = pick(rnd, key + ": 7", "a: &a [1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                                + "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]", "x: !!javax.script.ScriptEngineManager []",
                        "x: !!binary aGVsbG8=", "x: !!set {a, b}", "x: 2001-12-14t21:59:43.10-05:00", "<<: {K: 3}",
                        "? [a, b]\n: 1", "K: !!float 5", "epochs: 0x7fffffff");
                Files.writeString(f, CONFIG + extra + "\n");
                return "added " + extra.replace('\n', ' ');
            }
            case 5 -> {
                Files.writeString(f, CONFIG.substring(0, rnd.nextInt(CONFIG.length())) + pick(rnd, "", "[", "{", "\"", "'",
                        "&", "*x", "!", "%YAML 9.9", "\t"));
                return "truncated";
            }
            default -> {
                String json = "{" + String.join(", ", Arrays.stream(lines).map(l -> "\"" + l.substring(0, l.indexOf(':'))
                        + "\": " + l.substring(l.indexOf(':') + 1).trim().replace("perona_malik", "\"perona_malik\"")
                        .replace("pde", "\"pde\"")).toList()) + "}";
                int at = rnd.nextInt(json.length());
                json = json.substring(0, at) + pick(rnd, "\u0000", "}", ",", "\"", "1e999", "{\"K\": 5}", "\n") + json.substring(at);
                Files.writeString(f, json);
                return "JSON with an insertion at " + at;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ output paths

    /**
     * A command that writes a file the user names: the endings its output gets (for report, the suffixes of its
     * prefix), whether the option is a prefix, and its arguments for an input (run folder or checkpoint) and an
     * output value. A command whose output option is missing here fails {@link #everyOutputOptionIsCovered}.
     */
    private record Writer(List<String> endings, boolean prefix, BiFunction<Path, String, List<String>> args) {
    }

    private static Map<String, Writer> writers(Path image) {
        return Map.of(
                "export", new Writer(List.of(".onnx"), false, (in, o) -> List.of("export", in.toString(), "-o", o)),
                "visualize", new Writer(List.of(".png"), false,
                        (in, o) -> List.of("visualize", in.toString(), "--data-dir", nowhere.toString(), "-o", o)),
                "predict", new Writer(List.of(".csv", ".jsonl"), false,
                        (in, o) -> List.of("predict", in.toString(), image.toString(), "-o", o)),
                "report", new Writer(List.of(".md", ".csv", ".png"), true, // (a sweep's report adds -cells.csv)
                        (in, o) -> List.of("report", in.toString(), "-o", o)));
    }

    /** Options that take a file the command only reads. */
    private static final Set<String> INPUT_OPTIONS = Set.of("--config", "--onnx", "--resume");

    /**
     * The commands (as "export", "sweep run") with an option that names an output file: called -o or --output,
     * or one taking a FILE that is not a known input.
     */
    static Set<String> commandsWithOutputOption() {
        Set<String> found = new TreeSet<>();
        walk(new CommandLine(new Main(System.out, System.err)), found);
        return found;
    }

    private static void walk(CommandLine cl, Set<String> found) {
        for (OptionSpec o : cl.getCommandSpec().options()) {
            boolean named = Arrays.asList(o.names()).contains("-o") || Arrays.asList(o.names()).contains("--output");
            boolean file = "FILE".equals(o.paramLabel()) && !INPUT_OPTIONS.contains(o.longestName());
            if (named || file) {
                found.add(cl.getCommandSpec().qualifiedName(" ").replaceFirst("^trainer ?", ""));
            }
        }
        cl.getSubcommands().values().forEach(c -> walk(c, found));
    }

    @Test
    void everyOutputOptionIsCovered() {
        assertEquals(new TreeSet<>(writers(nowhere).keySet()), commandsWithOutputOption(),
                "a command that writes a file the user names must check it with OutputFile.check and be listed in "
                        + "FuzzTest.writers");
    }

    /** {@code file} of the run spelled as a user might: plain, with "./", through a missing folder and "..". */
    private static List<String> spellings(Path run, Path runLink, String file) {
        return List.of(run.resolve(file).toString(), run + "/./" + file, run + "/missing/../" + file,
                runLink.resolve(file).toString());
    }

    @Test
    void outputsNeverLandOnARunsFilesOrInputs() throws Exception {
        Path run = good.getParent();
        Path links = Files.createDirectories(tmp.resolve("out-links"));
        Path runLink = Files.createSymbolicLink(links.resolve("run-link"), run);
        Path image = tmp.resolve("digit.png");
        javax.imageio.ImageIO.write(new java.awt.image.BufferedImage(28, 28,
                java.awt.image.BufferedImage.TYPE_BYTE_GRAY), "png", image.toFile());
        List<String> runFiles;
        try (var s = Files.list(run)) {
            runFiles = s.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertTrue(runFiles.containsAll(List.of("best.safetensors", "last.safetensors", "config.json",
                "metrics.csv", "metrics.jsonl", "curves.png", ".lock")), runFiles.toString());
        int cases = 0;
        long t0 = System.nanoTime();
        for (var e : writers(image).entrySet()) {
            String cmd = e.getKey();
            Writer w = e.getValue();
            for (String f : runFiles) {
                for (String out : spellings(run, runLink, f)) {
                    if (w.prefix()) { // report -o RUN/metrics writes RUN/metrics.csv
                        for (String end : w.endings()) {
                            if (out.endsWith(end)) {
                                String prefix = out.substring(0, out.length() - end.length());
                                refused(cmd + " -o " + prefix, run, "--output", args(w.args().apply(run, prefix)));
                                cases++;
                            }
                        }
                    } else {
                        refused(cmd + " -o " + out, run, "--output", args(w.args().apply(run, out)));
                        cases++;
                    }
                }
                // a link with the command's own ending that leads to the run's file
                for (String end : w.endings()) {
                    Path link = Files.createSymbolicLink(links.resolve(cmd + "-" + f + "-" + cases + end),
                            run.resolve(f));
                    String out = w.prefix() ? link.toString().substring(0, link.toString().length() - end.length())
                            : link.toString();
                    refused(cmd + " -o " + link + " -> " + f, run, "--output", args(w.args().apply(run, out)));
                    cases++;
                }
            }
            if (!w.prefix()) { // the command's own input file, here a checkpoint named like the output
                for (String end : w.endings()) {
                    Path in = Files.createDirectories(tmp.resolve("inputs-" + cmd)).resolve("model" + end);
                    Files.copy(good, in);
                    refused(cmd + " -o its input " + in, in.getParent(), "input",
                            args(w.args().apply(in, in.getParent() + "/./" + in.getFileName())));
                    cases++;
                }
            }
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        assertTrue(cases > 100, cases + " cases");
        assertTrue(secs < 30, cases + " output cases took " + secs + " s");
    }

    private static String[] args(List<String> a) {
        return a.toArray(String[]::new);
    }

    // ------------------------------------------------------------------------------------------ run names

    @Test
    void runNamesStayInsideOut() throws Exception {
        Path root = tmp.resolve("names");
        Path out = Files.createDirectories(root.resolve("a/b/out"));
        Files.createDirectories(root.resolve("outside"));
        Files.createSymbolicLink(out.resolve("elsewhere"), root.resolve("outside"));
        List<String> names = List.of("../../escaped", "..", ".", "", "a\nb", "a/b", "/abs", "x".repeat(101), "-x",
                "a b", "a\u0000b", ".hidden", "a\\b", "caf\u00e9", "a\tb", "~");
        List<String> base = List.of("--model", "cnn", "--channels", "2", "--epochs", "1", "--batch-size", "16",
                "--data-dir", data.toString(), "--out", out.toString());
        for (String n : names) {
            List<String> a = new java.util.ArrayList<>(base);
            a.add("--name=" + n);
            refused("--name '" + n + "'", root, "--name", args(a));
        }
        Path cfg = tmp.resolve("names-cfg.yaml");
        Files.writeString(cfg, "model: cnn\nchannels: 2\nname: ../escaped\n");
        refused("key 'name' in a config", root, "key 'name'", "--config", cfg.toString(), "--epochs", "1",
                "--data-dir", data.toString(), "--out", out.toString());
        refused("a fork named ..", root, "--name", "--resume", good.toString(), "--epochs", "2", "--data-dir",
                data.toString(), "--out", out.toString(), "--name", "..");
        // A valid name whose folder is a link out of --out: refused before anything is written.
        List<String> a = new java.util.ArrayList<>(base);
        a.add("--name=elsewhere");
        refused("--name through a link", root, "outside", args(a));
    }

    @SafeVarargs
    private static <T> T pick(SplittableRandom rnd, T... options) {
        return options[rnd.nextInt(options.length)];
    }
}
