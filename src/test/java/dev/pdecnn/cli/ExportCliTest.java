package dev.pdecnn.cli;

import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.export.OnnxRuntimeModel;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.Checkpoint;
import dev.pdecnn.train.SyntheticMnist;
import dev.pdecnn.train.TrainStep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code export} on a real run folder: the file ONNX Runtime loads takes raw [0, 1] pixels (the run's normalisation
 * is inside) and gives the checkpoint's evaluation-mode logits; bad input is one line and exit code 2.
 */
class ExportCliTest {
    @Test
    void exportedRunMatchesCheckpoint(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 320, 64, 5);
        CliRunner.Result r = CliRunner.run("--model", "pde", "--diffusivity", "perona_malik", "--channels", "3",
                "--epochs", "1", "--batch-size", "16", "--data-dir", data.toString(), "--out", tmp.toString(),
                "--name", "run");
        assertEquals(0, r.code(), r.err());
        Path run = tmp.resolve("run"), onnx = tmp.resolve("model.onnx");
        CliRunner.Result ex = CliRunner.run("export", "--format", "onnx", run.toString(), "-o", onnx.toString());
        assertEquals(0, ex.code(), ex.err());
        assertTrue(ex.out().contains("image [N,1,28,28] float32 pixels in [0,1] -> logits, probabilities [N,10]"), ex.out());

        Path ckFile = run.resolve("best.safetensors");
        Checkpoint.Loaded ck = Checkpoint.read(ckFile);
        Network net = Models.build(RunConfig.fromMap(ck.state().config, "test"), new CpuBackend());
        Checkpoint.restore(ckFile, ck, net, ck.state().model, null);
        int n = 100;
        float[] pixels = new float[n * 28 * 28], normalised = new float[pixels.length];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (float) rnd.nextDouble();
            normalised[i] = (float) ((pixels[i] - ck.state().mean[0]) / ck.state().std[0]);
        }
        float[] ours = new TrainStep(net).eval(Tensor.of(normalised, n, 1, 28, 28), t -> t.to(dev.pdecnn.tensor.DType.F32).f32());
        try (OnnxRuntimeModel m = new OnnxRuntimeModel(onnx, 2)) {
            float[][] theirs = m.logits(pixels, n);
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < 10; k++) {
                    // float32 on both sides in different orders: see OnnxExportTest for the 1e-4 bound
                    assertEquals(ours[i * 10 + k], theirs[i][k], 1e-4 * Math.max(1, Math.abs(ours[i * 10 + k])));
                }
            }
            assertEquals("[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]", m.metadata().get("class_names"));
            assertEquals("baked_in", m.metadata().get("normalization"));
            assertEquals("best.safetensors", m.metadata().get("checkpoint"));
        }
    }

    @Test
    void badInputIsOneLineAndExitCode2(@TempDir Path tmp) {
        for (String[] args : new String[][]{
                {"export", tmp.resolve("nothing").toString(), "-o", tmp.resolve("m.onnx").toString()},
                {"export", "--format", "tflite", tmp.toString(), "-o", tmp.resolve("m.onnx").toString()},
                {"export", tmp.toString(), "-o", tmp.resolve("missing/m.onnx").toString()},
                {"export", tmp.toString(), "-o", tmp.toString()}}) {
            CliRunner.Result r = CliRunner.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
        }
        assertFalse(Files.exists(tmp.resolve("m.onnx")));
    }
}
