package dev.pdecnn.gpu;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code predict --device emulated}: the GPU path (our CUDA kernels, host build) classifies as the CPU does. */
class PredictDeviceTest {
    @Test
    void emulatedDeviceGivesTheCpuLogits(@TempDir Path tmp) throws Exception {
        Emulated.executable();
        Path data = SyntheticMnist.write(tmp.resolve("data"), 160, 40, 3);
        CliRunner.Result t = CliRunner.run("--model", "pde", "--channels", "2", "--epochs", "1", "--batch-size", "16",
                "--data-dir", data.toString(), "--out", tmp.toString(), "--name", "run");
        assertEquals(0, t.code(), t.err());
        SplittableRandom r = new SplittableRandom(8);
        for (int i = 0; i < 7; i++) { // random sizes and colours: resizing happens before the device sees them
            BufferedImage img = new BufferedImage(20 + r.nextInt(40), 20 + r.nextInt(40), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    img.setRGB(x, y, r.nextInt(1 << 24));
                }
            }
            Files.createDirectories(tmp.resolve("in"));
            ImageIO.write(img, "png", tmp.resolve("in/" + i + ".png").toFile());
        }
        Path cpu = tmp.resolve("cpu.csv"), emu = tmp.resolve("emu.csv");
        String run = tmp.resolve("run").toString(), in = tmp.resolve("in").toString();
        assertEquals(0, CliRunner.run("predict", run, in, "--logits", "--batch-size", "3", "-o", cpu.toString()).code());
        CliRunner.Result e = CliRunner.run("predict", run, in, "--logits", "--batch-size", "3", "--device", "emulated",
                "-o", emu.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().contains("device: emulated device"), e.out());
        List<String> a = Files.readAllLines(cpu), b = Files.readAllLines(emu);
        assertEquals(8, a.size());
        for (int row = 1; row < a.size(); row++) {
            String[] x = a.get(row).split(","), y = b.get(row).split(",");
            assertEquals(x[0], y[0]);
            assertEquals(x[1], y[1], "top class of " + x[0]);
            double max = 0;
            for (int j = 7; j < 17; j++) {
                max = Math.max(max, Math.abs(Double.parseDouble(x[j])));
            }
            for (int j = 7; j < 17; j++) {
                // float32 on both, different summation orders: measured 9.5e-7 relative on real MNIST images
                assertEquals(Double.parseDouble(x[j]), Double.parseDouble(y[j]), 1e-4 * max, x[0] + " logit " + (j - 7));
            }
        }
    }
}
