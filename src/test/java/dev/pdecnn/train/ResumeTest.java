package dev.pdecnn.train;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Resuming continues exactly: 2 epochs straight equal 1 epoch + resume + 1 epoch, bit for bit. */
class ResumeTest {
    @Test
    void resumeIsBitIdentical(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 160, 40, 5);
        String[] common = {"--model", "pde", "--channels", "3", "--batch-size", "16", "--data-dir", data.toString(),
                "--out", tmp.toString(), "--seed", "7", "--diffusivity", "perona_malik"};
        CliRunner.Result a = CliRunner.run(concat(common, "--epochs", "2", "--name", "straight"));
        assertEquals(0, a.code(), a.err());
        CliRunner.Result b = CliRunner.run(concat(common, "--epochs", "2", "--stop-after", "1", "--name", "split"));
        assertEquals(0, b.code(), b.err());
        assertEquals(1, Checkpoint.read(tmp.resolve("split/last.safetensors")).state().epochsDone);
        CliRunner.Result c = CliRunner.run("--resume", tmp.resolve("split").toString());
        assertEquals(0, c.code(), c.err());
        assertTrue(c.out().contains("resumed"), c.out());

        Map<String, Tensor> x = Safetensors.read(tmp.resolve("straight/last.safetensors")).tensors();
        Map<String, Tensor> y = Safetensors.read(tmp.resolve("split/last.safetensors")).tensors();
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) {
            assertArrayEquals(x.get(k).f32(), y.get(k).f32(), k); // exact equality, momentum buffers included
        }
        TrainState s1 = Checkpoint.read(tmp.resolve("straight/last.safetensors")).state();
        TrainState s2 = Checkpoint.read(tmp.resolve("split/last.safetensors")).state();
        assertEquals(s1.step, s2.step);
        assertEquals(s1.history.get(1).testAcc(), s2.history.get(1).testAcc());
        assertEquals(s1.history.get(1).trainLoss(), s2.history.get(1).trainLoss());
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
