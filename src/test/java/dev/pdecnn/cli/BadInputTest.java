package dev.pdecnn.cli;

import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every user mistake ends in a one-line error naming the culprit, a non-zero exit, and nothing overwritten. */
class BadInputTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 64, 32, 3);
    }

    private static CliRunner.Result fails(int code, String mustMention, String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertEquals(code, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        assertTrue(r.err().contains(mustMention), "error should name '" + mustMention + "': " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace for a user mistake: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one-line error: " + r.err());
        return r;
    }

    private static String[] tiny(String... extra) {
        return tinyOn(data, extra);
    }

    private static String[] tinyOn(Path dataDir, String... extra) {
        String[] base = {"--model", "cnn", "--channels", "2", "--batch-size", "16", "--data-dir", dataDir.toString(),
                "--out", tmp.resolve("runs").toString()};
        String[] r = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, r, base.length, extra.length);
        return r;
    }

    @Test
    void unknownModelOptionAndValues() {
        fails(2, "'foo'", "--model", "foo");
        fails(2, "--bogus", "--bogus");
        fails(2, "--epochs", "--epochs", "abc");
        fails(2, "'K'", "--K", "0");
        fails(2, "'diffusivity'", "--model", "pde", "--diffusivity", "sideways");
        fails(2, "--device 3", tiny("--device", "3"));
        fails(2, "'velocity_net'", "ops", "--model", "resnet32_global", "--velocity-net", "mlp");
    }

    @Test
    void badConfigFiles() throws Exception {
        Path unknown = Files.writeString(tmp.resolve("unknown.yaml"), "model: pde\nlearning_rate: 0.1\n");
        fails(2, "learning_rate", "--config", unknown.toString());
        CliRunner.Result r = CliRunner.run("--config", unknown.toString());
        assertTrue(r.err().contains(unknown.toString()), r.err());
        Path type = Files.writeString(tmp.resolve("type.yaml"), "epochs: many\n");
        fails(2, "'epochs'", "--config", type.toString());
        Path yaml = Files.writeString(tmp.resolve("broken.yaml"), "model: [pde\n");
        fails(2, "not valid YAML", "--config", yaml.toString());
        fails(2, "does not exist", "--config", tmp.resolve("missing.yaml").toString());
        Path combo = Files.writeString(tmp.resolve("combo.yaml"), "model: pde\ndiffusivity: learned\n");
        fails(2, "diffusivity", "--config", combo.toString());
    }

    @Test
    void missingAndCorruptData() throws Exception {
        fails(2, "nowhere", tinyOn(tmp.resolve("nowhere")));
        Path bad = Files.createDirectories(tmp.resolve("bad"));
        for (String f : new String[]{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"}) {
            Files.copy(data.resolve(f), bad.resolve(f));
        }
        byte[] img = Files.readAllBytes(bad.resolve("train-images-idx3-ubyte"));
        Files.write(bad.resolve("train-images-idx3-ubyte"), java.util.Arrays.copyOf(img, img.length - 100));
        fails(2, "train-images-idx3-ubyte", tinyOn(bad));
        Files.write(bad.resolve("train-images-idx3-ubyte"), img);
        Files.delete(bad.resolve("t10k-labels-idx1-ubyte"));
        fails(2, "t10k-labels", tinyOn(bad));
    }

    @Test
    void checkpointOfAnotherModelAndExistingRunAndDivergence() throws Exception {
        CliRunner.Result ok = CliRunner.run(tiny("--epochs", "2", "--stop-after", "1", "--name", "cnn"));
        assertEquals(0, ok.code(), ok.err());
        Path run = tmp.resolve("runs/cnn");
        byte[] before = Files.readAllBytes(run.resolve("last.safetensors"));

        fails(2, "not 'mnist_pde", "--resume", run.toString(), "--model", "pde");
        fails(2, "already holds a run", tiny("--epochs", "1", "--name", "cnn"));
        fails(2, "nowhere", "eval", run.resolve("last.safetensors").toString(), "--data-dir",
                tmp.resolve("nowhere").toString());
        fails(2, "not a trainer checkpoint", "eval", writeBareSafetensors().toString());
        fails(3, "diverged", "--resume", run.toString(), "--lr", "1e30");
        assertArrayEquals(before, Files.readAllBytes(run.resolve("last.safetensors")), "last good checkpoint kept");

        CliRunner.Result ev = CliRunner.run("eval", run.toString(), "--data-dir", data.toString());
        assertEquals(0, ev.code(), ev.err());
        assertTrue(ev.out().contains("test accuracy"), ev.out());
    }

    private static Path writeBareSafetensors() {
        Path p = tmp.resolve("bare.safetensors");
        java.util.LinkedHashMap<String, dev.pdecnn.tensor.Tensor> m = new java.util.LinkedHashMap<>();
        m.put("w", dev.pdecnn.tensor.Tensor.of(new float[]{1, 2}, 2));
        dev.pdecnn.io.Safetensors.write(p, m, java.util.Map.of());
        return p;
    }

    /**
     * A broken Java runtime (seen on a GPU machine with a trimmed JRE: no libjpeg, no fonts) is explained in one
     * line with what to install; other exceptions are left alone (null), keeping their stack trace.
     */
    @Test
    void aBrokenJavaRuntimeIsExplained() {
        String jpeg = Main.runtimeFailure(new UnsatisfiedLinkError(
                "/tmp/jre/lib/libjavajpeg.so: libjpeg.so.62: cannot open shared object file"));
        assertTrue(jpeg.contains("libjpeg.so.62") && jpeg.contains("complete Java 17 runtime"), jpeg);
        String fonts = Main.runtimeFailure(new InternalError(new java.lang.reflect.InvocationTargetException(
                new RuntimeException("Fontconfig head is null, check your fonts or fonts configuration"))));
        assertTrue(fonts.contains("no usable font") && fonts.contains("Fontconfig head is null"), fonts);
        assertEquals(null, Main.runtimeFailure(new IllegalStateException("a bug")));
        assertEquals(null, Main.runtimeFailure(new RuntimeException(new java.io.IOException("disk full"))));
    }
}
