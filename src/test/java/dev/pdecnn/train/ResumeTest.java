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

    /**
     * Issue 23 item 3: resumed at an epoch end with another --limit-train or --batch-size, the step counter holds
     * the old epochs' steps; the schedule must follow progress in the new steps per epoch (continuous lr), not run
     * past its end and train the remaining epochs at lr 0.
     */
    @Test
    void changedStepsPerEpochRebaseTheScheduleOnProgress(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 160, 40, 5);
        String[] common = {"--model", "pde", "--channels", "1", "--batch-size", "16", "--data-dir", data.toString(),
                "--out", tmp.toString(), "--seed", "5", "--lr", "0.05", "--epochs", "3", "--checkpoint-every", "0"};
        // 10 steps an epoch, then 3 (--limit-train 48) or 5 (--batch-size 32)
        for (String[] change : new String[][]{{"--limit-train", "48"}, {"--batch-size", "32"}}) {
            String name = "mid" + change[0];
            CliRunner.Result a = CliRunner.run(concat(common, "--stop-after", "1", "--name", name));
            assertEquals(0, a.code(), a.err());
            CliRunner.Result b = CliRunner.run("--resume", tmp.resolve(name).toString(), change[0], change[1]);
            assertEquals(0, b.code(), b.err());
            assertTrue(b.out().contains("the lr schedule continues from the end of epoch 1"), b.out());
            TrainState st = Checkpoint.read(tmp.resolve(name).resolve("last.safetensors")).state();
            int perEpoch = change[0].equals("--limit-train") ? 3 : 5;
            assertEquals(10 + 2 * perEpoch, st.step, "the counter counts the steps taken");
            for (int epoch = 2; epoch <= 3; epoch++) {
                // an epoch's lr is that of its last step: progress (epoch - 1) + (perEpoch - 1) / perEpoch
                double expected = Trainer.cosine(0.05, (long) (epoch - 1) * perEpoch + perEpoch - 1, 3L * perEpoch);
                double lr = st.history.get(epoch - 1).lr();
                assertEquals(expected, lr, 0.0, name + " epoch " + epoch);
                assertTrue(lr > 0, "no lr 0 before the schedule's end: " + lr);
            }
            assertTrue(st.history.get(1).lr() < st.history.get(0).lr(), "still decaying from epoch 1's lr");
        }
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
