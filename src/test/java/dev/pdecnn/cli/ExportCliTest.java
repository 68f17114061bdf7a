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

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code export} on a real run folder: the file ONNX Runtime loads takes raw [0, 1] pixels (the run's normalisation
 * is inside) and gives the checkpoint's evaluation-mode logits, {@code predict --onnx} ranks the classes of image
 * files as {@code predict} on the run does; bad input is one line and exit code 2.
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

        // predict --onnx: the same classes, in the same order, as predict on the run, for every image
        Path images = Files.createDirectories(tmp.resolve("images"));
        for (int i = 0; i < 12; i++) {
            int size = i % 3 == 0 ? 28 : 40 + i; // others are centre-cropped and resized, colour ones made grey
            BufferedImage img = new BufferedImage(size, size + i % 2, i % 2 == 0 ? BufferedImage.TYPE_BYTE_GRAY
                    : BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < size; x++) {
                    img.setRGB(x, y, rnd.nextInt(0x1000000));
                }
            }
            ImageIO.write(img, "png", images.resolve("img" + i + ".png").toFile());
        }
        CliRunner.Result viaRun = CliRunner.run("predict", run.toString(), images.toString(), "--top", "10");
        CliRunner.Result viaOnnx = CliRunner.run("predict", "--onnx", onnx.toString(), images.toString(), "--top", "10");
        assertEquals(0, viaRun.code(), viaRun.err());
        assertEquals(0, viaOnnx.code(), viaOnnx.err());
        assertEquals(12, viaOnnx.out().lines().count(), viaOnnx.out());
        // all ten classes by probability: names and order equal (probabilities differ in the last float32 bits)
        assertEquals(classOrder(viaRun.out()), classOrder(viaOnnx.out()));
    }

    /** Each output line without its percentages: "file: 3, 8, 1, ...". */
    private static String classOrder(String out) {
        return out.replaceAll(" [0-9.]+%", "");
    }

    @Test
    void predictOnnxBadInput(@TempDir Path tmp) throws Exception {
        Path junk = Files.writeString(tmp.resolve("junk.onnx"), "not a model");
        Path img = tmp.resolve("a.png");
        ImageIO.write(new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY), "png", img.toFile());
        for (String[] args : new String[][]{
                {"predict", "--onnx", tmp.resolve("none.onnx").toString(), img.toString()},
                {"predict", "--onnx", junk.toString(), img.toString()},
                {"predict", "--onnx", junk.toString(), "--device", "0", img.toString()}}) {
            CliRunner.Result r = CliRunner.run(args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertFalse(r.err().contains("Exception"), r.err());
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
