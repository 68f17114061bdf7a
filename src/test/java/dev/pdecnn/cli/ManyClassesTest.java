package dev.pdecnn.cli;

import dev.pdecnn.export.OnnxRuntimeModel;
import dev.pdecnn.train.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23 item 7: an image folder of more than 10 classes trains (the classifier has one logit per class), and
 * eval, predict and export rebuild that classifier from the checkpoint's recorded class names. Also: a
 * --limit-train beyond the data says so.
 */
class ManyClassesTest {
    static final int CLASSES = 12;

    /** train/c00..c11 with 3 tiny RGB images each, test/ with 1 each. */
    static Path folder(Path root) throws Exception {
        SplittableRandom rnd = new SplittableRandom(4);
        for (String split : new String[]{"train", "test"}) {
            for (int k = 0; k < CLASSES; k++) {
                Path d = Files.createDirectories(root.resolve(split).resolve(String.format("c%02d", k)));
                for (int i = 0; i < (split.equals("train") ? 3 : 1); i++) {
                    BufferedImage img = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
                    for (int y = 0; y < 32; y++) {
                        for (int x = 0; x < 32; x++) {
                            img.setRGB(x, y, (k * 20) << 16 | rnd.nextInt(0x10000));
                        }
                    }
                    ImageIO.write(img, "png", d.resolve(i + ".png").toFile());
                }
            }
        }
        return root;
    }

    @Test
    void aTwelveClassFolderTrainsAndItsRunPredictsAndExports(@TempDir Path tmp) throws Exception {
        Path data = folder(tmp.resolve("data"));
        CliRunner.Result r = CliRunner.run("--model", "resnet", "--widths", "4", "--blocks", "1", "--dataset",
                "folder", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "12", "--limit-train",
                "1000", "--out", tmp.toString(), "--name", "run", "--checkpoint-every", "0");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("note: --limit-train 1000 exceeds the 36 images of data; using all 36"), r.out());
        Path run = tmp.resolve("run");
        assertEquals(CLASSES, Checkpoint.read(run.resolve("best.safetensors")).state().classNames.size());
        assertEquals(CLASSES, Checkpoint.read(run.resolve("best.safetensors")).tensors().get("fc.weight").dim(0));

        CliRunner.Result ev = CliRunner.run("eval", run.toString());
        assertEquals(0, ev.code(), ev.err());
        assertTrue(ev.out().contains("on 12 images"), ev.out());

        Path img = data.resolve("test/c11/0.png");
        CliRunner.Result p = CliRunner.run("predict", run.toString(), img.toString(), "--top", String.valueOf(CLASSES));
        assertEquals(0, p.code(), p.err());
        assertTrue(p.out().contains("c11") && p.out().contains("c00"), p.out());

        Path onnx = tmp.resolve("model.onnx");
        CliRunner.Result ex = CliRunner.run("export", run.toString(), "-o", onnx.toString());
        assertEquals(0, ex.code(), ex.err());
        assertTrue(ex.out().contains("probabilities [N," + CLASSES + "]"), ex.out());
        try (OnnxRuntimeModel m = new OnnxRuntimeModel(onnx, 1)) {
            assertEquals(CLASSES, m.classes());
            assertTrue(m.metadata().get("class_names").contains("\"c11\""), m.metadata().get("class_names"));
        }
    }
}
