package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class MnistTest {
    @TempDir
    Path dir;

    @Test
    void loadsRealMnist() {
        assumeTrue(Files.isDirectory(TestFiles.SHARED_MNIST), "shared MNIST folder absent");
        Split s = Mnist.load(TestFiles.SHARED_MNIST);
        assertEquals(60000, s.train().size());
        assertEquals(10000, s.test().size());
        assertEquals(1, s.train().c());
        assertEquals(28, s.train().h());
        assertEquals(28, s.train().w());
        assertEquals(10, s.train().numClasses());
        // The well-known MNIST training statistics.
        assertEquals(0.1307, s.train().mean()[0], 1e-4);
        assertEquals(0.3081, s.train().std()[0], 1e-4);
        // First training label of MNIST is a 5, first test label a 7.
        assertEquals(5, s.train().labels()[0]);
        assertEquals(7, s.test().labels()[0]);
        int[] counts = new int[10];
        for (int l : s.train().labels()) {
            counts[l]++;
        }
        assertEquals(5923, counts[0]);
        assertEquals(6742, counts[1]);
    }

    @Test
    void loadsAllSpellings() throws IOException {
        for (boolean gz : new boolean[]{false, true}) {
            for (boolean dotted : new boolean[]{false, true}) {
                Path d = dir.resolve("gz" + gz + "-dot" + dotted);
                TestFiles.writeTinyMnist(d, 12, 5, gz, dotted);
                Split s = Mnist.load(d);
                assertEquals(12, s.train().size());
                assertEquals(5, s.test().size());
                assertEquals(3, s.train().labels()[3]);
            }
        }
    }

    @Test
    void missingFileSuggestsFetch() throws IOException {
        TestFiles.writeTinyMnist(dir, 3, 2, true, false);
        Files.delete(dir.resolve("t10k-labels-idx1-ubyte.gz"));
        UserException e = assertThrows(UserException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains("t10k-labels-idx1-ubyte"), e.getMessage());
        assertTrue(e.getMessage().contains("java -jar target/trainer.jar data mnist"), e.getMessage());
        assertTrue(e.getMessage().contains("--data-dir"), e.getMessage());
        UserException e2 = assertThrows(UserException.class, () -> Mnist.load(dir.resolve("absent")));
        assertTrue(e2.getMessage().contains("does not exist"), e2.getMessage());
    }

    @Test
    void countMismatchNamesBothFiles() throws IOException {
        TestFiles.writeTinyMnist(dir, 4, 2, false, false);
        TestFiles.write(dir.resolve("train-labels-idx1-ubyte"), TestFiles.idxLabels(new int[]{1, 2, 3}));
        UserException e = assertThrows(UserException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().contains("train-labels-idx1-ubyte: has 3 labels but train-images-idx3-ubyte has 4 images"),
                e.getMessage());
    }

    @Test
    void corruptFilesNameTheCulprit() throws IOException {
        // Corrupt magic.
        TestFiles.writeTinyMnist(dir, 4, 2, true, false);
        Path img = dir.resolve("t10k-images-idx3-ubyte.gz");
        byte[] raw = TestFiles.idxImages(2, 28, 28, new byte[2 * 784]);
        raw[2] = 9;
        Files.write(img, TestFiles.gzip(raw));
        assertMessageNames(img, "bad magic");

        // Truncated.
        Files.write(img, TestFiles.gzip(java.util.Arrays.copyOf(TestFiles.idxImages(2, 28, 28, new byte[2 * 784]), 900)));
        assertMessageNames(img, "truncated");
        Files.write(img, TestFiles.gzip(TestFiles.idxImages(2, 28, 28, new byte[2 * 784])));
        Mnist.load(dir);

        // Bad label value.
        Path lab = dir.resolve("t10k-labels-idx1-ubyte.gz");
        Files.write(lab, TestFiles.gzip(TestFiles.idxLabels(new int[]{3, 200})));
        assertMessageNames(lab, "label 200 at index 1");
    }

    @Test
    void trainAndTestShapesMustAgree() throws IOException {
        TestFiles.writeTinyMnist(dir, 4, 2, false, false);
        TestFiles.write(dir.resolve("t10k-images-idx3-ubyte"), TestFiles.idxImages(2, 32, 32, new byte[2 * 1024]));
        assertTrue(assertThrows(UserException.class, () -> Mnist.load(dir)).getMessage().contains("32x32"));
    }

    @Test
    void rawSpellingWinsOverGzip() throws IOException {
        TestFiles.writeTinyMnist(dir, 4, 2, true, false);
        TestFiles.write(dir.resolve("train-images-idx3-ubyte"), TestFiles.idxImages(4, 28, 28, new byte[4 * 784]));
        assertEquals(dir.resolve("train-images-idx3-ubyte"), Mnist.locate(dir, Mnist.TRAIN_IMAGES).orElseThrow());
        assertEquals(0, Mnist.load(dir).train().pixels()[100]);
    }

    private void assertMessageNames(Path file, String what) {
        UserException e = assertThrows(UserException.class, () -> Mnist.load(dir));
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
    }
}
