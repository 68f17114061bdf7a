package dev.pdecnn.config;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.models.Models;
import dev.pdecnn.nn.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** One validation for every source of a config: exact integers, bounds, duplicate keys, a size limit. */
class ConfigBoundsTest {
    @TempDir
    Path tmp;

    private UserException refused(String yaml, String... mustMention) throws Exception {
        Path f = Files.writeString(tmp.resolve("c" + System.nanoTime() + ".yaml"), yaml);
        UserException e = assertThrows(UserException.class, () -> ConfigFiles.apply(f, new RunConfig()), yaml);
        for (String m : mustMention) {
            assertTrue(e.getMessage().contains(m), "'" + m + "' in: " + e.getMessage());
        }
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        return e;
    }

    /** Values past 2^32 used to wrap through intValue(): 4294967297 epochs trained 1 epoch with exit 0. */
    @Test
    void yamlIntegersDoNotWrap() throws Exception {
        refused("epochs: 4294967297\n", "'epochs'", "1..100000", "4294967297");
        refused("batch_size: 4294967328\n", "'batch_size'", "4294967328");
        refused("K: 4294967301\n", "'K'", "1..100");
        refused("K: 99999999999999999999999\n", "'K'"); // a BigInteger in SnakeYAML
        refused("{\"epochs\": 4294967297.0}\n", "'epochs'"); // JSON style, a double
        refused("seed: 9223372036854775808\n", "'seed'");
        refused("widths: [16, 4294967312]\n", "'widths'");
        refused("channels: 1.5\n", "'channels'", "integer");
        refused("lr: .nan\n", "'lr'");
        refused("dt: .inf\n", "'dt'");
        RunConfig ok = new RunConfig();
        ConfigFiles.apply(Files.writeString(tmp.resolve("ok.yaml"), "epochs: 100000\nK: 100\nseed: "
                + Long.MAX_VALUE + "\nchannels: 3.0\n"), ok);
        assertEquals(100000, ok.epochs);
        assertEquals(100, ok.steps);
        assertEquals(Long.MAX_VALUE, ok.seed);
        assertEquals(3, ok.channels);
    }

    @Test
    void everyKeyIsBounded() throws Exception {
        for (String bad : new String[]{"K: 0", "K: 101", "channels: 0", "channels: 1025", "blocks: -1", "blocks: 201",
                "widths: [8, 0]", "widths: [8, -4]", "widths: [2000]", "widths: []", "widths: [8, 8, 8, 8, 8, 8, 8]",
                "global_after: [1, 1]", "global_after: [7]", "epochs: 0", "batch_size: 16385", "pad_crop: 17",
                "limit_train: -1", "momentum: 1", "momentum: -0.1", "bn_momentum: 0", "bn_momentum: 1.5",
                "weight_decay: -1e-4", "lr: 0", "dt: 0", "dx: -1", "dy: 1e400", "pm_lambda: 0",
                "diffusivity_constant: -1", "bn_eps: 0"}) {
            String key = bad.substring(0, bad.indexOf(':'));
            refused(bad + "\n", "'" + key + "'");
        }
        // the whole model is bounded too, before anything is allocated
        RunConfig big = new RunConfig();
        big.set("model", "resnet", "t");
        big.set("widths", "1024,1024,1024,1024", "t");
        big.set("blocks", 200, "t");
        UserException e = assertThrows(UserException.class, big::validate);
        assertTrue(e.getMessage().contains("parameters"), e.getMessage());
    }

    /** minParams is a lower bound of the real parameter count; checkpoints and the size limit rely on it. */
    @Test
    void minParamsIsALowerBound() {
        String[][] cases = {{"cnn", "8"}, {"residual", "1"}, {"pde", "8"}, {"resnet32", "0"}, {"resnet32_global", "0"},
                {"resnet", "2"}};
        for (String[] c : cases) {
            RunConfig cfg = new RunConfig();
            cfg.set("model", c[0], "t");
            if (c[0].startsWith("res") && !c[0].equals("residual")) {
                cfg.set("blocks", Integer.parseInt(c[1]), "t");
            } else {
                cfg.set("channels", Integer.parseInt(c[1]), "t");
            }
            cfg.validate();
            long real = 0;
            for (Param p : Models.build(cfg, new CpuBackend()).namedParams().values()) {
                real += p.trainable ? p.value.size() : 0;
            }
            long min = cfg.minParams();
            assertTrue(min <= real && min > real / 2, c[0] + ": " + min + " vs " + real);
        }
    }

    @Test
    void duplicateKeysAreRefused() throws Exception {
        refused("epochs: 3\nlr: 0.1\nepochs: 5\n", "duplicate key epochs", "line 3");
        refused("{\"K\": 3, \"K\": 5}\n", "duplicate key K");
    }

    /** A 50 MB single scalar used to take 359 s and 1.4 GB; the limit is now checked before parsing. */
    @Test
    void sizeLimitComesBeforeParsing() throws Exception {
        Path f = tmp.resolve("huge.yaml");
        byte[] big = new byte[50 << 20];
        java.util.Arrays.fill(big, (byte) 'a');
        System.arraycopy("name: ".getBytes(StandardCharsets.US_ASCII), 0, big, 0, 6);
        Files.write(f, big);
        long t0 = System.nanoTime();
        UserException e = assertThrows(UserException.class, () -> ConfigFiles.apply(f, new RunConfig()));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("larger than 64 KiB"), e.getMessage());
        assertTrue(s < 2, "refused in " + s + " s");
        Files.delete(f);
        // nesting and alias bombs stop at SnakeYAML's limits, also in one line
        refused("widths: " + "[".repeat(5000) + "]".repeat(5000) + "\n", "config file");
        StringBuilder bomb = new StringBuilder("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (char c = 'b'; c <= 'k'; c++) {
            bomb.append(c).append(": &").append(c).append(" [").append("*").append((char) (c - 1))
                    .append(", *".repeat(8)).append((char) (c - 1)).append("]\n");
        }
        refused(bomb.toString().replace(", *" + "\n", "\n"), "config file");
        refused("model: !!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[]]]\n", "config file");
    }

    /** --help shows every numeric key's range, and it is the range RunConfig enforces. */
    @Test
    void helpShowsTheEnforcedRanges() {
        String help = CliRunner.run("--help").out();
        for (String key : List.of("channels", "K", "dt", "dx", "dy", "diffusivity_constant", "pm_lambda", "blocks",
                "widths", "global_after", "bn_momentum", "bn_eps", "epochs", "batch_size", "lr", "momentum",
                "weight_decay", "pad_crop", "limit_train", "limit_test")) {
            String opt = "--" + key.replace('_', '-');
            Matcher m = Pattern.compile("(?m)^\\s+(?:-\\w, )?" + Pattern.quote(opt) + "[=\\s]").matcher(help);
            assertTrue(m.find(), opt + " in --help");
            Matcher next = Pattern.compile("(?m)^\\s+(?:-\\w, )?--").matcher(help);
            int end = next.find(m.end()) ? next.start() : help.length();
            String block = help.substring(m.start(), end).replaceAll("\\s+", " ");
            assertTrue(block.contains("Range: " + RunConfig.rangeText(key)), opt + ": " + block);
        }
    }

    /** The README's table of bounds names the same ranges (a row holds two keys, each with its range). */
    @Test
    void readmeShowsTheEnforcedRanges() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        String errors = readme.substring(readme.indexOf("## Errors"));
        errors = errors.substring(0, errors.indexOf("\n## ", 3));
        for (String key : List.of("channels", "K", "dt", "dx", "dy", "diffusivity_constant", "pm_lambda", "blocks",
                "widths", "global_after", "bn_momentum", "bn_eps", "epochs", "batch_size", "lr", "momentum",
                "weight_decay", "pad_crop", "limit_train", "limit_test")) {
            String row = errors.lines().filter(l -> l.startsWith("|") && l.contains("`" + key + "`")).findFirst()
                    .orElse("");
            String cell = row.substring(row.indexOf("`" + key + "`"));
            cell = cell.substring(0, Math.min(cell.length(), cell.indexOf('|', cell.indexOf('|') + 1) + 1));
            assertTrue(cell.contains(RunConfig.rangeText(key)), key + " in README: " + row);
        }
    }
}
