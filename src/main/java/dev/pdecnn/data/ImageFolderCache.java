package dev.pdecnn.data;

import dev.pdecnn.io.AtomicFiles;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The decoded-image cache of {@link ImageFolder}: both splits' pixels, labels and class names in one binary file
 * (magic, format version, CRC-32C of the body, body length, then the body), tied to the folder by the listing's
 * fingerprint, so a changed folder or a damaged file is noticed and the images are decoded again.
 */
final class ImageFolderCache {
    static final byte[] MAGIC = "PDEIMGF\n".getBytes(StandardCharsets.US_ASCII);
    static final int FORMAT_VERSION = 1;
    /** Bytes before the checksummed body: magic, version, CRC-32C, body length. */
    static final int PREAMBLE = 8 + 4 + 4 + 8;

    private ImageFolderCache() {
    }

    record Read(Split split, boolean stale, String problem) {
    }

    static void write(Path file, byte[] fingerprint, Split split) {
        CRC32C crc = new CRC32C();
        long[] length = new long[1];
        try {
            CheckedOutputStream co = new CheckedOutputStream(new OutputStream() {
                @Override
                public void write(int b) {
                    length[0]++;
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    length[0] += len;
                }
            }, crc);
            DataOutputStream dry = new DataOutputStream(co);
            writeBody(dry, fingerprint, split);
            dry.flush();
        } catch (IOException e) {
            throw new IllegalStateException("in-memory write failed", e);
        }
        long sum = crc.getValue();
        AtomicFiles.write(file, os -> {
            DataOutputStream d = new DataOutputStream(os);
            d.write(MAGIC);
            d.writeInt(FORMAT_VERSION);
            d.writeInt((int) sum);
            d.writeLong(length[0]);
            writeBody(d, fingerprint, split);
            d.flush();
        });
    }

    private static void writeBody(DataOutputStream d, byte[] fingerprint, Split split) throws IOException {
        Dataset tr = split.train();
        d.write(fingerprint);
        d.writeInt(tr.c());
        d.writeInt(tr.h());
        d.writeInt(tr.w());
        d.writeInt(tr.numClasses());
        for (String cls : tr.classNames()) {
            byte[] b = cls.getBytes(StandardCharsets.UTF_8);
            d.writeInt(b.length);
            d.write(b);
        }
        for (Dataset ds : List.of(split.train(), split.test())) {
            d.writeInt(ds.n());
            ByteBuffer lb = ByteBuffer.allocate(4 * ds.n());
            lb.asIntBuffer().put(ds.labels());
            d.write(lb.array());
            d.write(ds.pixels());
        }
    }

    static Read read(Path file, byte[] fingerprint, String name) {
        try {
            long fileSize = Files.size(file);
            try (InputStream raw = Files.newInputStream(file)) {
                DataInputStream pre = new DataInputStream(raw);
                byte[] magic = new byte[MAGIC.length];
                pre.readFully(magic);
                if (!Arrays.equals(magic, MAGIC)) {
                    return new Read(null, false, "not a cache file");
                }
                int version = pre.readInt();
                if (version != FORMAT_VERSION) {
                    return new Read(null, true, "cache written by another version");
                }
                int crcStored = pre.readInt();
                long length = pre.readLong();
                if (length != fileSize - PREAMBLE) {
                    return new Read(null, false, "truncated: " + fileSize + " bytes, expected " + (PREAMBLE + length));
                }
                CRC32C crc = new CRC32C();
                DataInputStream d = new DataInputStream(new BufferedInputStream(new CheckedInputStream(raw, crc), 1 << 16));
                byte[] fp = new byte[fingerprint.length];
                d.readFully(fp);
                if (!Arrays.equals(fp, fingerprint)) {
                    return new Read(null, true, "the folder changed since the cache was written");
                }
                int c = d.readInt();
                int h = d.readInt();
                int w = d.readInt();
                int k = d.readInt();
                if ((c != 1 && c != 3) || h <= 0 || w <= 0 || k <= 0 || k > 1_000_000 || (long) c * h * w > length) {
                    return new Read(null, false, "bad header");
                }
                List<String> classes = new ArrayList<>(k);
                for (int i = 0; i < k; i++) {
                    int len = d.readInt();
                    if (len < 0 || len > 4096) {
                        return new Read(null, false, "bad class name length");
                    }
                    byte[] b = new byte[len];
                    d.readFully(b);
                    classes.add(new String(b, StandardCharsets.UTF_8));
                }
                Dataset[] parts = new Dataset[2];
                long budget = length;
                for (int s = 0; s < 2; s++) {
                    int n = d.readInt();
                    long bytes = (long) n * (4 + (long) c * h * w);
                    if (n < 0 || bytes > budget || (long) n * c * h * w > Integer.MAX_VALUE - 8) {
                        return new Read(null, false, "bad sample count " + n);
                    }
                    budget -= bytes;
                    byte[] lb = new byte[4 * n];
                    d.readFully(lb);
                    int[] labels = new int[n];
                    ByteBuffer.wrap(lb).asIntBuffer().get(labels);
                    byte[] pixels = new byte[n * c * h * w];
                    d.readFully(pixels);
                    parts[s] = new Dataset(name, pixels, labels, c, h, w, classes);
                }
                if (d.read() != -1) {
                    return new Read(null, false, "trailing bytes");
                }
                if ((int) crc.getValue() != crcStored) {
                    return new Read(null, false, "checksum mismatch");
                }
                return new Read(new Split(parts[0], parts[1]), false, null);
            }
        } catch (EOFException e) {
            return new Read(null, false, "truncated");
        } catch (IOException | IllegalArgumentException e) {
            return new Read(null, false, IdxReader.oneLine(e));
        }
    }
}
