package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class ImageFolderTest {
    @TempDir
    Path tmp;

    static final int W = 8;
    static final int H = 6;
    static final int PLANE = W * H;

    private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);

    private String logText() {
        return logBytes.toString(StandardCharsets.UTF_8);
    }

    private ImageFolder.Result load(Path dir) {
        return ImageFolder.loadDetailed(dir, log, "t", tmp.resolve("usercache"));
    }

    // ------------------------------------------------------------------------------------------------
    // Image writers. Each returns the pixels the loader must produce: 3 planes (RGB) or 1 plane (gray).

    static byte[] writeRgbPng(Path file, int w, int h, long seed) throws IOException {
        byte[] planes = TestFiles.pixels(3 * w * h, seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = y * w + x;
                img.setRGB(x, y, ((planes[p] & 0xff) << 16) | ((planes[w * h + p] & 0xff) << 8) | (planes[2 * w * h + p] & 0xff));
            }
        }
        writeImage(img, "png", file);
        return planes;
    }

    /** RGBA with varying alpha: the loader drops alpha and keeps the straight (non-premultiplied) colour. */
    static byte[] writeRgbaPng(Path file, long seed) throws IOException {
        byte[] planes = TestFiles.pixels(3 * PLANE, seed);
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_ARGB);
        for (int p = 0; p < PLANE; p++) {
            int a = 17 + p * 5;
            img.setRGB(p % W, p / W, (a << 24) | ((planes[p] & 0xff) << 16) | ((planes[PLANE + p] & 0xff) << 8)
                    | (planes[2 * PLANE + p] & 0xff));
        }
        writeImage(img, "png", file);
        return planes;
    }

    /** A palette PNG with four explicit colours. */
    static byte[] writePalettePng(Path file) throws IOException {
        byte[] r = {(byte) 255, 0, 10, (byte) 200};
        byte[] g = {0, (byte) 255, 20, (byte) 201};
        byte[] b = {0, 0, 30, (byte) 202};
        IndexColorModel icm = new IndexColorModel(8, 4, r, g, b);
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_BYTE_INDEXED, icm);
        WritableRaster ras = img.getRaster();
        byte[] planes = new byte[3 * PLANE];
        for (int p = 0; p < PLANE; p++) {
            int idx = (p * 7) % 4;
            ras.setSample(p % W, p / W, 0, idx);
            planes[p] = r[idx];
            planes[PLANE + p] = g[idx];
            planes[2 * PLANE + p] = b[idx];
        }
        writeImage(img, "png", file);
        return planes;
    }

    static byte[] writeGrayPng(Path file, int w, int h, long seed) throws IOException {
        byte[] plane = TestFiles.pixels(w * h, seed);
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        WritableRaster ras = img.getRaster();
        for (int p = 0; p < w * h; p++) {
            ras.setSample(p % w, p / w, 0, plane[p] & 0xff);
        }
        writeImage(img, "png", file);
        return plane;
    }

    /** 16-bit grayscale: samples are scaled to 0..255 with rounding. */
    static byte[] writeGray16Png(Path file, long seed) throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_USHORT_GRAY);
        WritableRaster ras = img.getRaster();
        byte[] plane = new byte[PLANE];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (int p = 0; p < PLANE; p++) {
            int v = rnd.nextInt(65536);
            ras.setSample(p % W, p / W, 0, v);
            plane[p] = (byte) Math.round(v * 255.0 / 65535.0);
        }
        writeImage(img, "png", file);
        return plane;
    }

    static void writeImage(BufferedImage img, String format, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        if (!ImageIO.write(img, format, file.toFile())) {
            throw new IllegalStateException("no " + format + " writer");
        }
    }

    /**
     * The standard test folder: classes written in the order cat, ant, bee (so sorting matters), four
     * training images per class with names whose string order differs from their numeric order, and two
     * test images per class. Returns the expected RGB planes by relative path.
     */
    private Map<String, byte[]> writeRgbFolder(Path root) throws IOException {
        Map<String, byte[]> px = new HashMap<>();
        long seed = 1;
        for (String cls : List.of("cat", "ant", "bee")) {
            for (String name : List.of("img2.png", "img10.png", "img1.png", "z.PNG")) {
                px.put("train/" + cls + "/" + name, writeRgbPng(root.resolve("train").resolve(cls).resolve(name), W, H, seed++));
            }
            for (String name : List.of("b.png", "a.png")) {
                px.put("test/" + cls + "/" + name, writeRgbPng(root.resolve("test").resolve(cls).resolve(name), W, H, seed++));
            }
        }
        return px;
    }

    private static void assertSample(Dataset d, int n, byte[] expected) {
        int ss = d.sampleSize();
        assertArrayEquals(expected, Arrays.copyOfRange(d.pixels(), n * ss, (n + 1) * ss), "sample " + n);
    }

    // ------------------------------------------------------------------------------------------------

    @Test
    void rgbFolderHasExactPixelsSortedClassesAndFileOrder() throws IOException {
        Map<String, byte[]> px = writeRgbFolder(tmp);
        ImageFolder.Result r = load(tmp);
        Dataset tr = r.split().train();
        Dataset te = r.split().test();
        assertEquals(List.of("ant", "bee", "cat"), tr.classNames());
        assertEquals(List.of("ant", "bee", "cat"), te.classNames());
        assertEquals(3, tr.c());
        assertEquals(H, tr.h());
        assertEquals(W, tr.w());
        assertEquals(12, tr.n());
        assertEquals(6, te.n());
        assertEquals("t", tr.name());
        List<String> order = List.of("img1.png", "img10.png", "img2.png", "z.PNG");
        int n = 0;
        for (String cls : List.of("ant", "bee", "cat")) {
            for (String name : order) {
                assertEquals(n / 4, tr.labels()[n]);
                assertSample(tr, n++, px.get("train/" + cls + "/" + name));
            }
        }
        n = 0;
        for (String cls : List.of("ant", "bee", "cat")) {
            for (String name : List.of("a.png", "b.png")) {
                assertEquals(n / 2, te.labels()[n]);
                assertSample(te, n++, px.get("test/" + cls + "/" + name));
            }
        }
        // A known value at a known NCHW index: sample 5 (bee/img10.png), G channel, y=2, x=3.
        assertEquals(px.get("train/bee/img10.png")[PLANE + 2 * W + 3], tr.pixels()[5 * 3 * PLANE + PLANE + 2 * W + 3]);
        assertFalse(r.fromCache());
        assertEquals(18, r.decoded());
        assertTrue(logText().contains("decoding 18 images"), logText());
    }

    @Test
    void paletteAndAlphaPngsDecodeToRgb() throws IOException {
        Map<String, byte[]> px = writeRgbFolder(tmp);
        px.put("train/ant/p.png", writePalettePng(tmp.resolve("train/ant/p.png")));
        px.put("train/ant/q.png", writeRgbaPng(tmp.resolve("train/ant/q.png"), 99));
        Dataset tr = load(tmp).split().train();
        assertEquals(3, tr.c());
        assertEquals(14, tr.n());
        // Order in ant: img1, img10, img2, p, q, z.PNG
        assertSample(tr, 3, px.get("train/ant/p.png"));
        assertSample(tr, 4, px.get("train/ant/q.png"));
        assertSample(tr, 5, px.get("train/ant/z.PNG"));
    }

    @Test
    void allGrayscaleFolderHasOneChannel() throws IOException {
        Map<String, byte[]> px = new HashMap<>();
        long seed = 50;
        for (String cls : List.of("x", "y")) {
            for (String split : List.of("train", "test")) {
                for (String name : List.of("0.png", "1.png")) {
                    String rel = split + "/" + cls + "/" + name;
                    px.put(rel, writeGrayPng(tmp.resolve(rel), W, H, seed++));
                }
            }
        }
        px.put("train/y/2.png", writeGray16Png(tmp.resolve("train/y/2.png"), 7));
        Split s = load(tmp).split();
        assertEquals(1, s.train().c());
        assertEquals(1, s.test().c());
        assertEquals(5, s.train().n());
        assertSample(s.train(), 0, px.get("train/x/0.png"));
        assertSample(s.train(), 1, px.get("train/x/1.png"));
        assertSample(s.train(), 2, px.get("train/y/0.png"));
        assertSample(s.train(), 4, px.get("train/y/2.png"));
        assertSample(s.test(), 3, px.get("test/y/1.png"));
        assertArrayEquals(new int[]{0, 0, 1, 1, 1}, s.train().labels());
    }

    @Test
    void jpegDecodesCloseToTheSourceColour() throws IOException {
        for (String split : List.of("train", "test")) {
            for (String cls : List.of("a", "b")) {
                BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < 16; y++) {
                    for (int x = 0; x < 16; x++) {
                        img.setRGB(x, y, cls.equals("a") ? 0xC86432 : 0x3264C8);
                    }
                }
                writeImage(img, "jpeg", tmp.resolve(split).resolve(cls).resolve("im.jpg"));
                writeImage(img, "jpeg", tmp.resolve(split).resolve(cls).resolve("im2.JPEG"));
            }
        }
        Dataset tr = load(tmp).split().train();
        assertEquals(3, tr.c());
        assertEquals(4, tr.n());
        int[][] want = {{0xC8, 0x64, 0x32}, {0x32, 0x64, 0xC8}};
        for (int n = 0; n < 4; n++) {
            for (int c = 0; c < 3; c++) {
                for (int p = 0; p < 256; p++) {
                    int v = tr.pixels()[(n * 3 + c) * 256 + p] & 0xff;
                    assertTrue(Math.abs(v - want[n / 2][c]) <= 4, "sample " + n + " channel " + c + ": " + v);
                }
            }
        }
    }

    @Test
    void ignoresHiddenAndNonImageFiles() throws IOException {
        writeRgbFolder(tmp);
        Files.writeString(tmp.resolve("train/ant/notes.txt"), "hello");
        Files.writeString(tmp.resolve("train/ant/.DS_Store"), "junk");
        Files.createDirectories(tmp.resolve("train/.hidden-class"));
        Files.createDirectories(tmp.resolve("test/.hidden-class"));
        Split s = load(tmp).split();
        assertEquals(12, s.train().n());
        assertEquals(3, s.train().numClasses());
        assertTrue(logText().contains("ignored 1 entry") && logText().contains("train/ant/notes.txt"), logText());
    }

    // ------------------------------------------------------------------------------------------------
    // Errors

    @Test
    void mismatchedClassSetsAreListed() throws IOException {
        writeRgbPng(tmp.resolve("train/a/0.png"), W, H, 1);
        writeRgbPng(tmp.resolve("train/b/0.png"), W, H, 2);
        writeRgbPng(tmp.resolve("train/c/0.png"), W, H, 3);
        writeRgbPng(tmp.resolve("test/a/0.png"), W, H, 4);
        writeRgbPng(tmp.resolve("test/b/0.png"), W, H, 5);
        writeRgbPng(tmp.resolve("test/d/0.png"), W, H, 6);
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains("only in train/: c"), e.getMessage());
        assertTrue(e.getMessage().contains("only in test/: d"), e.getMessage());
    }

    @Test
    void emptyClassFolderIsNamed() throws IOException {
        writeRgbFolder(tmp);
        Files.createDirectories(tmp.resolve("train/dog"));
        Files.createDirectories(tmp.resolve("test/dog"));
        writeRgbPng(tmp.resolve("test/dog/0.png"), W, H, 1);
        Files.writeString(tmp.resolve("train/dog/readme.txt"), "no images here");
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains(tmp.resolve("train/dog").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("no ."), e.getMessage());
    }

    @Test
    void oddSizeNamesTheFirstOddFileAndBothSizes() throws IOException {
        writeRgbFolder(tmp);
        writeRgbPng(tmp.resolve("train/cat/img3.png"), W, H + 1, 77);
        writeRgbPng(tmp.resolve("train/bee/img11.png"), W + 2, H, 78); // earlier in load order
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains("train/bee/img11.png"), e.getMessage());
        assertTrue(e.getMessage().contains((W + 2) + "x" + H), e.getMessage());
        assertTrue(e.getMessage().contains(W + "x" + H), e.getMessage());
        assertFalse(e.getMessage().contains("img3.png"), e.getMessage());
    }

    @Test
    void undecodableFileIsNamed() throws IOException {
        writeRgbFolder(tmp);
        TestFiles.write(tmp.resolve("test/bee/broken.png"), "this is not a png".getBytes(StandardCharsets.UTF_8));
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains("test/bee/broken.png"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot be decoded"), e.getMessage());

        // A truncated real PNG fails the same way.
        Files.delete(tmp.resolve("test/bee/broken.png"));
        Path good = tmp.resolve("train/cat/img2.png");
        byte[] b = Files.readAllBytes(good);
        Files.write(good, Arrays.copyOf(b, b.length / 2));
        e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains("train/cat/img2.png"), e.getMessage());
    }

    @Test
    void grayscaleImageInAnRgbSetIsAnError() throws IOException {
        writeRgbFolder(tmp);
        writeGrayPng(tmp.resolve("train/bee/gray.png"), W, H, 5);
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains("train/bee/gray.png"), e.getMessage());
        assertTrue(e.getMessage().contains("grayscale"), e.getMessage());
    }

    @Test
    void missingSplitFolderIsNamed() throws IOException {
        writeRgbPng(tmp.resolve("train/a/0.png"), W, H, 1);
        UserException e = assertThrows(UserException.class, () -> load(tmp));
        assertTrue(e.getMessage().contains(tmp.resolve("test").toString()), e.getMessage());
        assertFalse(ImageFolder.looksLike(tmp));
        UserException e2 = assertThrows(UserException.class, () -> load(tmp.resolve("absent")));
        assertTrue(e2.getMessage().contains("absent"), e2.getMessage());
    }

    // ------------------------------------------------------------------------------------------------
    // Cache

    @Test
    void secondLoadComesFromTheCacheWithIdenticalContent() throws IOException {
        writeRgbFolder(tmp);
        ImageFolder.Result first = load(tmp);
        assertFalse(first.fromCache());
        assertEquals(tmp.resolve(ImageFolder.CACHE_FOLDER).resolve(ImageFolder.CACHE_FILE), first.cacheFile());
        assertTrue(Files.isRegularFile(first.cacheFile()));
        logBytes.reset();
        ImageFolder.Result second = load(tmp);
        assertTrue(second.fromCache());
        assertEquals(0, second.decoded());
        assertTrue(logText().contains("from the cache"), logText());
        assertFalse(logText().contains("decoding"), logText());
        for (int s = 0; s < 2; s++) {
            Dataset a = s == 0 ? first.split().train() : first.split().test();
            Dataset b = s == 0 ? second.split().train() : second.split().test();
            assertArrayEquals(a.pixels(), b.pixels());
            assertArrayEquals(a.labels(), b.labels());
            assertEquals(a.classNames(), b.classNames());
            assertEquals(a.c(), b.c());
            assertEquals(a.h(), b.h());
            assertEquals(a.w(), b.w());
            assertEquals("t", b.name());
        }
        // The cache folder inside the dataset folder does not disturb the class listing.
        assertTrue(ImageFolder.looksLike(tmp));
    }

    @Test
    void addedFileInvalidatesTheCache() throws IOException {
        writeRgbFolder(tmp);
        load(tmp);
        byte[] added = writeRgbPng(tmp.resolve("train/ant/img0.png"), W, H, 1234);
        ImageFolder.Result r = load(tmp);
        assertFalse(r.fromCache());
        assertEquals(13, r.split().train().n());
        assertSample(r.split().train(), 0, added);
        assertTrue(logText().contains("the folder changed"), logText());
        assertTrue(load(tmp).fromCache());
    }

    @Test
    void changedFileInvalidatesTheCache() throws IOException {
        writeRgbFolder(tmp);
        load(tmp);
        Path f = tmp.resolve("test/cat/a.png");
        FileTime before = Files.getLastModifiedTime(f);
        // New pixels; the explicit later time guards against coarse file-system timestamps.
        byte[] newPx = writeRgbPng(f, W, H, 4321);
        Files.setLastModifiedTime(f, FileTime.fromMillis(before.toMillis() + 5_000));
        ImageFolder.Result r = load(tmp);
        assertFalse(r.fromCache());
        assertSample(r.split().test(), 4, newPx);

        // Same size, same name, only the time differs: still a rebuild.
        Files.setLastModifiedTime(f, FileTime.fromMillis(before.toMillis() + 10_000));
        assertFalse(load(tmp).fromCache());
        assertTrue(load(tmp).fromCache());
    }

    @Test
    void corruptCacheIsIgnoredAndRebuilt() throws IOException {
        writeRgbFolder(tmp);
        Path cache = load(tmp).cacheFile();
        byte[] good = Files.readAllBytes(cache);

        // A flipped byte in the pixel data: caught by the checksum.
        byte[] flipped = good.clone();
        flipped[flipped.length - 10] ^= 0x40;
        Files.write(cache, flipped);
        logBytes.reset();
        ImageFolder.Result r = load(tmp);
        assertFalse(r.fromCache());
        assertTrue(logText().contains("ignoring the unreadable cache") && logText().contains("checksum"), logText());
        assertArrayEquals(good, Files.readAllBytes(cache));

        // Truncated.
        Files.write(cache, Arrays.copyOf(good, good.length / 2));
        logBytes.reset();
        assertFalse(load(tmp).fromCache());
        assertTrue(logText().contains("truncated"), logText());

        // Garbage, and an empty file.
        Files.writeString(cache, "garbage garbage garbage garbage");
        assertFalse(load(tmp).fromCache());
        Files.write(cache, new byte[0]);
        assertFalse(load(tmp).fromCache());
        assertTrue(load(tmp).fromCache());
    }

    @Test
    void unwritableFolderFallsBackToTheUserCache() throws IOException {
        writeRgbFolder(tmp);
        // A plain file where the cache folder would go makes the dataset folder unusable for the cache,
        // like a read-only mount would (permission bits do not stop root, who runs CI here).
        Files.writeString(tmp.resolve(ImageFolder.CACHE_FOLDER), "in the way");
        ImageFolder.Result first = load(tmp);
        assertFalse(first.fromCache());
        assertTrue(first.cacheFile().startsWith(tmp.resolve("usercache")), first.cacheFile().toString());
        assertEquals(ImageFolder.cacheCandidates(tmp, tmp.resolve("usercache")).get(1), first.cacheFile());
        ImageFolder.Result second = load(tmp);
        assertTrue(second.fromCache());
        assertEquals(first.cacheFile(), second.cacheFile());
    }

    @Test
    void cacheKeysDifferPerFolder() {
        Path u = tmp.resolve("u");
        assertNotEquals(ImageFolder.cacheCandidates(tmp.resolve("a"), u).get(1),
                ImageFolder.cacheCandidates(tmp.resolve("b"), u).get(1));
        assertEquals(ImageFolder.cacheCandidates(tmp.resolve("a"), u).get(1),
                ImageFolder.cacheCandidates(tmp.resolve("x/../a"), u).get(1));
    }

    // ------------------------------------------------------------------------------------------------
    // The real JPEG export, when the shared data folder is present.

    static final Path SHARED_CIFAR_JPEG = Path.of("..", "shared", "data", "cifar10-jpeg.tar.gz");

    @Test
    void realCifarJpegSample() throws IOException {
        assumeTrue(Files.isRegularFile(SHARED_CIFAR_JPEG), "no " + SHARED_CIFAR_JPEG);
        Path root = tmp.resolve("cifar");
        Map<String, Integer> taken = new HashMap<>();
        List<String> classes = List.of("airplane", "cat", "truck");
        try (InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(SHARED_CIFAR_JPEG), 1 << 16))) {
            TarReader tar = new TarReader(in);
            for (TarReader.Entry e; (e = tar.next()) != null; ) {
                String[] parts = e.name().split("/");
                if (!e.isFile() || parts.length != 3 || !classes.contains(parts[1])) {
                    continue;
                }
                String key = parts[0] + "/" + parts[1];
                int limit = parts[0].equals("train") ? 30 : 10;
                if (taken.merge(key, 1, Integer::sum) <= limit) {
                    TestFiles.write(root.resolve(e.name()), tar.content().readAllBytes());
                }
            }
        }
        ImageFolder.Result r = load(root);
        Dataset tr = r.split().train();
        assertEquals(classes, tr.classNames());
        assertEquals(90, tr.n());
        assertEquals(30, r.split().test().n());
        assertEquals(3, tr.c());
        assertEquals(32, tr.h());
        assertEquals(32, tr.w());
        double[] mean = tr.mean();
        for (double m : mean) {
            assertTrue(m > 0.2 && m < 0.8, Arrays.toString(mean));
        }
        assertTrue(load(root).fromCache());
    }
}
