package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IdxReaderTest {
    @TempDir
    Path dir;

    private final byte[] pixels = TestFiles.pixels(3 * 4 * 5, 7);
    private final byte[] images = TestFiles.idxImages(3, 4, 5, pixels);

    @Test
    void readsRawImages() throws IOException {
        Path f = TestFiles.write(dir.resolve("imgs"), images);
        IdxReader.Images img = IdxReader.readImages(f);
        assertEquals(3, img.count());
        assertEquals(4, img.rows());
        assertEquals(5, img.cols());
        assertArrayEquals(pixels, img.pixels());
    }

    @Test
    void detectsGzipByContentNotName() throws IOException {
        // A gzipped file without .gz and a raw file with .gz must both load.
        Path gz = TestFiles.write(dir.resolve("imgs-no-suffix"), TestFiles.gzip(images));
        Path raw = TestFiles.write(dir.resolve("imgs-raw.gz"), images);
        assertTrue(IdxReader.isGzip(gz));
        assertFalse(IdxReader.isGzip(raw));
        assertArrayEquals(pixels, IdxReader.readImages(gz).pixels());
        assertArrayEquals(pixels, IdxReader.readImages(raw).pixels());
    }

    @Test
    void readsLabelsRawAndGzip() throws IOException {
        int[] labels = {0, 9, 3, 3, 7};
        Path raw = TestFiles.write(dir.resolve("l"), TestFiles.idxLabels(labels));
        Path gz = TestFiles.write(dir.resolve("l.gz"), TestFiles.gzip(TestFiles.idxLabels(labels)));
        assertArrayEquals(labels, IdxReader.readLabels(raw, 10));
        assertArrayEquals(labels, IdxReader.readLabels(gz, 10));
    }

    @Test
    void emptyImageFileIsValid() throws IOException {
        Path f = TestFiles.write(dir.resolve("empty"), TestFiles.idxImages(0, 28, 28, new byte[0]));
        assertEquals(0, IdxReader.readImages(f).count());
    }

    @Test
    void badMagicNamesFileAndSuggestsSwap() throws IOException {
        Path f = TestFiles.write(dir.resolve("swapped-images"), TestFiles.idxLabels(new int[]{1, 2}));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("bad magic number 2049"), e.getMessage());
        assertTrue(e.getMessage().contains("swapped"), e.getMessage());

        byte[] junk = images.clone();
        junk[3] = 0x42;
        Path g = TestFiles.write(dir.resolve("junk"), junk);
        UserException e2 = assertThrows(UserException.class, () -> IdxReader.readImages(g));
        assertTrue(e2.getMessage().startsWith(g + ": bad magic number"), e2.getMessage());
    }

    @Test
    void truncatedBodyReportsExpectedAndFound() throws IOException {
        Path f = TestFiles.write(dir.resolve("t.gz"), TestFiles.gzip(Arrays.copyOf(images, images.length - 7)));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        String m = e.getMessage();
        assertTrue(m.startsWith(f + ": truncated: expected 60 bytes after the 16-byte header"), m);
        assertTrue(m.contains("found 53"), m);
        assertFalse(m.contains("\n"), "one-line message");
    }

    @Test
    void truncatedHeader() throws IOException {
        Path f = TestFiles.write(dir.resolve("h"), Arrays.copyOf(images, 10));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("header"), e.getMessage());
    }

    @Test
    void trailingBytesAreAnError() throws IOException {
        Path f = TestFiles.write(dir.resolve("trail"), Arrays.copyOf(images, images.length + 3));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertTrue(e.getMessage().contains("3 unexpected trailing bytes"), e.getMessage());
        int[] labels = {1, 2};
        byte[] lab = Arrays.copyOf(TestFiles.idxLabels(labels), 11);
        Path g = TestFiles.write(dir.resolve("trail-labels.gz"), TestFiles.gzip(lab));
        assertThrows(UserException.class, () -> IdxReader.readLabels(g, 10));
    }

    @Test
    void truncatedGzipStream() throws IOException {
        byte[] gz = TestFiles.gzip(TestFiles.idxImages(50, 28, 28, TestFiles.pixels(50 * 784, 3)));
        Path f = TestFiles.write(dir.resolve("cut.gz"), Arrays.copyOf(gz, gz.length / 2));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("gzip"), e.getMessage());
    }

    @Test
    void labelOutOfRange() throws IOException {
        Path f = TestFiles.write(dir.resolve("bad-labels"), TestFiles.idxLabels(new int[]{1, 2, 10, 3}));
        UserException e = assertThrows(UserException.class, () -> IdxReader.readLabels(f, 10));
        assertTrue(e.getMessage().contains(f + ": label 10 at index 2 is out of range 0..9"), e.getMessage());
    }

    @Test
    void absurdHeaderDoesNotAllocate() throws IOException {
        // 2^30 claimed pixels in a 20-byte file: must fail as truncated, not with OutOfMemoryError.
        ByteBuffer b = ByteBuffer.allocate(20).putInt(2051).putInt(1 << 20).putInt(32).putInt(32);
        Path f = TestFiles.write(dir.resolve("huge"), b.array());
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        ByteBuffer c = ByteBuffer.allocate(16).putInt(2051).putInt(1 << 20).putInt(1 << 10).putInt(1 << 10);
        Path g = TestFiles.write(dir.resolve("huger"), c.array());
        assertTrue(assertThrows(UserException.class, () -> IdxReader.readImages(g)).getMessage().contains("more than"));
    }

    @Test
    void negativeDimensions() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).putInt(2051).putInt(-1).putInt(28).putInt(28);
        Path f = TestFiles.write(dir.resolve("neg"), b.array());
        assertTrue(assertThrows(UserException.class, () -> IdxReader.readImages(f)).getMessage().contains("invalid dimensions"));
    }

    @Test
    void missingFile() {
        Path f = dir.resolve("nope");
        UserException e = assertThrows(UserException.class, () -> IdxReader.readImages(f));
        assertEquals(f + ": file not found", e.getMessage());
    }
}
