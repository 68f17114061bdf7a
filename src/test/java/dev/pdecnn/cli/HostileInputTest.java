package dev.pdecnn.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile or absurd input on the command line and in a checkpoint's trainer state: each is refused with one
 * line and exit 2 within seconds, before a model is built from it, and the run folder is left as it was.
 */
class HostileInputTest {
    @TempDir
    static Path tmp;
    static Path data;
    static Path good;

    @BeforeAll
    static void trainOneEpoch() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 64, 32, 5);
        good = CliRunner.tinyRun(data, tmp.resolve("runs"), "base").resolve("last.safetensors");
    }

    /** Runs the CLI under a time limit and checks the one-line exit-2 contract. */
    static CliRunner.Result refused(String mustMention, Duration limit, String... args) {
        CliRunner.Result r = assertTimeoutPreemptively(limit, () -> CliRunner.run(args), String.join(" ", args));
        assertEquals(2, r.code(), "exit code of " + String.join(" ", args) + "; stderr: " + r.err());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), "no stack trace: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains(mustMention), "'" + mustMention + "' in: " + r.err());
        return r;
    }

    static CliRunner.Result refused(String mustMention, String... args) {
        return refused(mustMention, Duration.ofSeconds(10), args);
    }

    /** Every file below {@code dir} with its bytes, to prove a refused command changed nothing. */
    static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> m = new TreeMap<>();
        if (!Files.exists(dir)) {
            return m;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                m.put(dir.relativize(p).toString(), Files.isRegularFile(p)
                        ? java.util.Arrays.hashCode(Files.readAllBytes(p)) + ":" + Files.size(p) : "dir");
            }
        }
        return m;
    }

    @Test
    void commandLineBounds() {
        String out = tmp.resolve("runs_cli").toString();
        String[][] cases = {
                {"'widths'", "--model", "resnet32", "--widths", "8,0"},
                {"'widths'", "--model", "resnet32", "--widths", "8,-4"},
                {"'widths'", "--model", "resnet32", "--widths", "8,,8"},
                {"'channels'", "--model", "cnn", "--channels", "100000"},
                {"'K'", "--model", "pde", "--K", "2000000000"},
                {"'blocks'", "--model", "resnet", "--blocks", "200000"},
                {"parameters", "--model", "resnet", "--blocks", "200", "--widths", "1024,1024,1024,1024"},
                {"'momentum'", "--momentum", "1"},
                {"'batch_size'", "--batch-size", "0"},
                {"--epochs", "--epochs", "4294967297"},
                {"'lr'", "--lr", "NaN"},
                {"'dt'", "--dt", "Infinity"},
        };
        for (String[] c : cases) {
            String[] args = Stream.concat(Stream.of(c).skip(1), Stream.of("--data-dir", data.toString(), "--out", out))
                    .toArray(String[]::new);
            refused(c[0], Duration.ofSeconds(5), args);
            if (c[1].equals("--model")) { // model options: the ops command validates them the same way
                refused(c[0], Duration.ofSeconds(5), Stream.concat(Stream.of("ops"), Stream.of(c).skip(1))
                        .toArray(String[]::new));
            }
        }
        assertFalse(Files.exists(Path.of(out)), "no run folder for a refused config");
    }

    /** Edits of the trainer state and the run each must get from eval and from --resume. */
    private void stateEdit(String name, String mustMention, Consumer<JsonObject> edit) throws Exception {
        Path run = tmp.resolve("edited/" + name);
        Path ckpt = CheckpointEdit.editState(good, run.resolve("last.safetensors"), edit);
        Map<String, String> before = snapshot(run);
        refused(mustMention, "eval", ckpt.toString(), "--data-dir", data.toString());
        refused(mustMention, "--resume", run.toString(), "--data-dir", data.toString());
        assertEquals(before, snapshot(run), name + ": run folder untouched");
    }

    private static Consumer<JsonObject> config(String key, Object value) {
        return st -> {
            JsonObject c = st.getAsJsonObject("config");
            if (value instanceof Number n) {
                c.add(key, new JsonPrimitive(n));
            } else {
                c.add(key, value == null ? JsonNull.INSTANCE : new JsonPrimitive(value.toString()));
            }
        };
    }

    @Test
    void checkpointConfigIsValidatedBeforeTheModelIsBuilt() throws Exception {
        stateEdit("k_huge", "'K'", config("K", 2_000_000_000));
        stateEdit("blocks_huge", "'blocks'", config("blocks", 200_000));
        stateEdit("k_wraps", "'K'", config("K", 4294967301L));
        // a consistent edit of name and config that the stored tensors cannot hold
        stateEdit("channels_too_many_for_tensors", "at least", config("channels", 150)
                .andThen(st -> st.addProperty("model", "mnist_cnn_c150")));
        stateEdit("widths_zero", "'widths'", st -> {
            JsonArray w = new JsonArray();
            w.add(8);
            w.add(0);
            st.getAsJsonObject("config").add("widths", w);
        });
        stateEdit("unknown_key", "'bogus'", config("bogus", 1));
        stateEdit("config_null", "incomplete", st -> st.add("config", JsonNull.INSTANCE));
        stateEdit("model_other", "names model", st -> st.addProperty("model", "mnist_cnn_c3"));
    }

    @Test
    void checkpointCountersAreChecked() throws Exception {
        stateEdit("epochs_max", "epochsDone", st -> st.addProperty("epochsDone", Integer.MAX_VALUE));
        stateEdit("epochs_negative", "epochsDone", st -> st.addProperty("epochsDone", -1));
        stateEdit("epochs_overflow", "unreadable", st -> st.addProperty("epochsDone", new BigInteger("2147483648")));
        stateEdit("step_negative", "step", st -> st.addProperty("step", -5));
        stateEdit("step_huge", "unreadable", st -> st.addProperty("step", new BigInteger("99999999999999999999")));
        stateEdit("best_epoch", "bestEpoch", st -> st.addProperty("bestEpoch", 7));
        stateEdit("wall_nan", "wallSeconds", st -> st.addProperty("wallSeconds", Double.NaN));
    }

    @Test
    void checkpointNormalisationAndHistoryAreChecked() throws Exception {
        stateEdit("mean_null", "'mean'", st -> st.add("mean", JsonNull.INSTANCE));
        stateEdit("std_null", "'std'", st -> st.add("std", JsonNull.INSTANCE));
        stateEdit("history_null", "'history'", st -> st.add("history", JsonNull.INSTANCE));
        stateEdit("history_empty", "history", st -> st.add("history", new JsonArray()));
        stateEdit("std_zero", "'std'", st -> {
            JsonArray a = new JsonArray();
            a.add(0.0);
            st.add("std", a);
        });
        stateEdit("mean_nan", "'mean'", st -> {
            JsonArray a = new JsonArray();
            a.add(Double.NaN);
            st.add("mean", a);
        });
        stateEdit("std_three", "input channels", st -> {
            JsonArray a = new JsonArray();
            a.add(1.0);
            a.add(1.0);
            a.add(1.0);
            st.add("std", a);
        });
    }

    /** NaN weights used to evaluate to "0.00%, 256 images diverged" with no word about the weights. */
    @Test
    void nonFiniteWeightsAreNamed() throws Exception {
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY}) {
            Path run = tmp.resolve("poisoned" + bad);
            Path ckpt = CheckpointEdit.poison(good, run.resolve("last.safetensors"), "fc.weight", bad);
            Map<String, String> before = snapshot(run);
            refused("weights are not finite: fc.weight", "eval", ckpt.toString(), "--data-dir", data.toString());
            refused("weights are not finite: fc.weight", "--resume", run.toString(), "--data-dir", data.toString());
            assertEquals(before, snapshot(run));
        }
        CliRunner.Result ok = CliRunner.run("eval", good.toString(), "--data-dir", data.toString());
        assertEquals(0, ok.code(), "the unedited checkpoint still evaluates: " + ok.err());
    }
}
