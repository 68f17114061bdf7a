package dev.pdecnn.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builders for small IDX and tar files used by the data tests. */
final class TestFiles {
    /** The real MNIST files (read-only, gzipped); tests using them skip when the folder is absent. */
    static final Path SHARED_MNIST = Path.of("..", "shared", "data", "mnist");

    private TestFiles() {
    }

    static byte[] idxImages(int n, int rows, int cols, byte[] pixels) {
        ByteBuffer b = ByteBuffer.allocate(16 + pixels.length);
        b.putInt(IdxReader.IMAGES_MAGIC).putInt(n).putInt(rows).putInt(cols).put(pixels);
        return b.array();
    }

    static byte[] idxLabels(int[] labels) {
        ByteBuffer b = ByteBuffer.allocate(8 + labels.length);
        b.putInt(IdxReader.LABELS_MAGIC).putInt(labels.length);
        for (int l : labels) {
            b.put((byte) l);
        }
        return b.array();
    }

    /** Deterministic pseudo-random pixels so tests can check exact values. */
    static byte[] pixels(int count, long seed) {
        byte[] p = new byte[count];
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int i = 0; i < count; i++) {
            p[i] = (byte) r.nextInt(256);
        }
        return p;
    }

    static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(data);
        }
        return bos.toByteArray();
    }

    static Path write(Path file, byte[] data) throws IOException {
        Files.createDirectories(file.getParent());
        return Files.write(file, data);
    }

    /**
     * Writes a small MNIST-like folder: {@code nTrain}/{@code nTest} 28x28 images with labels i % 10.
     * {@code gz} compresses every file; {@code dotted} uses the {@code .idx3-ubyte} spelling.
     */
    static void writeTinyMnist(Path dir, int nTrain, int nTest, boolean gz, boolean dotted) throws IOException {
        writePair(dir, "train", nTrain, gz, dotted, 1);
        writePair(dir, "t10k", nTest, gz, dotted, 2);
    }

    private static void writePair(Path dir, String prefix, int n, boolean gz, boolean dotted, long seed)
            throws IOException {
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 10;
        }
        byte[] img = idxImages(n, 28, 28, pixels(n * 784, seed));
        byte[] lab = idxLabels(labels);
        String sep = dotted ? "." : "-";
        String suffix = gz ? ".gz" : "";
        write(dir.resolve(prefix + "-images" + sep + "idx3-ubyte" + suffix), gz ? gzip(img) : img);
        write(dir.resolve(prefix + "-labels" + sep + "idx1-ubyte" + suffix), gz ? gzip(lab) : lab);
    }

    // ------------------------------------------------------------------------------------------------
    // Tar writing (ustar), enough to exercise TarReader and the npm path.

    /** Appends a regular file; names over 100 chars get a GNU 'L' long-name entry first. */
    static void tarFile(OutputStream out, String name, byte[] content) throws IOException {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        if (nameBytes.length > 100) {
            byte[] longName = (name + "\0").getBytes(StandardCharsets.UTF_8);
            out.write(header("././@LongLink", longName.length, 'L', null));
            out.write(longName);
            pad(out, longName.length);
            name = name.substring(0, 100);
        }
        out.write(header(name, content.length, '0', null));
        out.write(content);
        pad(out, content.length);
    }

    /** Appends a regular file whose real path is carried by a preceding pax 'x' header. */
    static void tarFilePax(OutputStream out, String path, byte[] content) throws IOException {
        String rec = " path=" + path + "\n";
        int len = rec.length() + 1;
        while (Integer.toString(len).length() + rec.length() != len) {
            len++;
        }
        byte[] pax = (len + rec).getBytes(StandardCharsets.UTF_8);
        out.write(header("PaxHeaders/x", pax.length, 'x', null));
        out.write(pax);
        pad(out, pax.length);
        out.write(header("truncated-name", content.length, '0', null));
        out.write(content);
        pad(out, content.length);
    }

    /** Appends a regular file using the ustar prefix field for the directory part. */
    static void tarFilePrefixed(OutputStream out, String prefix, String name, byte[] content) throws IOException {
        out.write(header(name, content.length, '0', prefix));
        out.write(content);
        pad(out, content.length);
    }

    static void tarEnd(OutputStream out) throws IOException {
        out.write(new byte[1024]);
    }

    private static void pad(OutputStream out, long size) throws IOException {
        int p = (int) ((512 - size % 512) % 512);
        out.write(new byte[p]);
    }

    private static byte[] header(String name, long size, char type, String prefix) {
        byte[] h = new byte[512];
        put(h, 0, 100, name);
        put(h, 100, 8, "0000644");
        put(h, 108, 8, "0001750");
        put(h, 116, 8, "0001750");
        put(h, 124, 12, String.format("%011o", size));
        put(h, 136, 12, String.format("%011o", 0));
        h[156] = (byte) type;
        put(h, 257, 6, "ustar");
        put(h, 263, 2, "00");
        if (prefix != null) {
            put(h, 345, 155, prefix);
        }
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        put(h, 148, 8, String.format("%06o", sum) + "\0 ");
        return h;
    }

    private static void put(byte[] h, int off, int len, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(b, 0, h, off, Math.min(len, b.length));
    }
}
