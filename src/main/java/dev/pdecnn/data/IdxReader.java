package dev.pdecnn.data;

import dev.pdecnn.UserException;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads IDX files (the MNIST container format): a big-endian int32 magic, big-endian int32 dimensions,
 * then the unsigned bytes. Images use magic 2051 with dimensions [n, rows, cols]; labels use 2049 with [n].
 *
 * <p>Files may be raw or gzip-compressed; compression is detected from the gzip magic bytes (0x1f 0x8b),
 * never from the file name, because renamed and half-decompressed downloads are common. Every problem
 * is reported as a {@link UserException} that names the file, says what is wrong and what to do, since a
 * corrupt download is the usual cause and the user can fix it by re-fetching.
 */
public final class IdxReader {
    public static final int IMAGES_MAGIC = 2051;
    public static final int LABELS_MAGIC = 2049;

    /** Pixel data of an IDX image file: {@code count * rows * cols} unsigned bytes, row-major per image. */
    public record Images(byte[] pixels, int count, int rows, int cols) {
    }

    /** Tells the user how to recover from a damaged file; appended to every error. */
    private static final String REMEDY =
            "; delete it and re-fetch with `java -jar target/trainer.jar data mnist`, or point --data-dir at good copies";

    private IdxReader() {
    }

    /** Reads an IDX3 image file (magic 2051). */
    public static Images readImages(Path file) {
        try (InputStream in = open(file)) {
            int magic = readHeaderInt(in, file, "magic number");
            checkMagic(file, magic, IMAGES_MAGIC, "image");
            int n = readHeaderInt(in, file, "image count");
            int rows = readHeaderInt(in, file, "row count");
            int cols = readHeaderInt(in, file, "column count");
            if (n < 0 || rows <= 0 || cols <= 0) {
                throw new UserException(file + ": invalid dimensions " + n + " x " + rows + " x " + cols
                        + " in header (negative or zero)" + REMEDY);
            }
            long expected = (long) n * rows * cols;
            if (expected > Integer.MAX_VALUE - 8) {
                throw new UserException(file + ": header claims " + n + " x " + rows + " x " + cols
                        + " = " + expected + " pixels, more than this reader supports (2^31)" + REMEDY);
            }
            byte[] pixels = readBody(in, file, (int) expected, 16,
                    " (" + n + " images of " + rows + " x " + cols + ")");
            return new Images(pixels, n, rows, cols);
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /**
     * Reads an IDX1 label file (magic 2049) and checks every label is below {@code numClasses}, so a
     * corrupt byte is caught here rather than as an index error deep inside the loss.
     */
    public static int[] readLabels(Path file, int numClasses) {
        try (InputStream in = open(file)) {
            int magic = readHeaderInt(in, file, "magic number");
            checkMagic(file, magic, LABELS_MAGIC, "label");
            int n = readHeaderInt(in, file, "label count");
            if (n < 0) {
                throw new UserException(file + ": invalid label count " + n + " in header" + REMEDY);
            }
            byte[] raw = readBody(in, file, n, 8, " (" + n + " labels)");
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                int v = raw[i] & 0xff;
                if (v >= numClasses) {
                    throw new UserException(file + ": label " + v + " at index " + i + " is out of range 0.."
                            + (numClasses - 1) + REMEDY);
                }
                labels[i] = v;
            }
            return labels;
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /**
     * Opens a file for reading its logical (decompressed) content. The caller closes the stream.
     * I/O errors are translated to {@link UserException}s naming the file.
     */
    public static InputStream open(Path file) {
        try {
            return decompressing(new BufferedInputStream(Files.newInputStream(file), 1 << 16));
        } catch (NoSuchFileException e) {
            throw new UserException(file + ": file not found");
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /** Wraps a stream in a gzip decoder if (and only if) it starts with the gzip magic bytes. */
    public static InputStream decompressing(InputStream in) throws IOException {
        PushbackInputStream peek = new PushbackInputStream(in, 2);
        int b0 = peek.read();
        int b1 = b0 < 0 ? -1 : peek.read();
        if (b1 >= 0) {
            peek.unread(b1);
        }
        if (b0 >= 0) {
            peek.unread(b0);
        }
        if (b0 == 0x1f && b1 == 0x8b) {
            return new GZIPInputStream(peek, 1 << 16);
        }
        return peek;
    }

    /** Whether the file starts with the gzip magic bytes. */
    public static boolean isGzip(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        }
    }

    private static void checkMagic(Path file, int magic, int expected, String kind) {
        if (magic == expected) {
            return;
        }
        String hint = magic == (expected == IMAGES_MAGIC ? LABELS_MAGIC : IMAGES_MAGIC)
                ? " (this looks like the " + (expected == IMAGES_MAGIC ? "label" : "image") + " file; are the names swapped?)"
                : " (not an IDX " + kind + " file)";
        throw new UserException(file + ": bad magic number " + magic + ", expected " + expected + " for an IDX "
                + kind + " file" + hint + REMEDY);
    }

    private static int readHeaderInt(InputStream in, Path file, String what) throws IOException {
        byte[] b = in.readNBytes(4);
        if (b.length < 4) {
            throw new UserException(file + ": truncated: file ends inside the IDX header while reading the " + what
                    + REMEDY);
        }
        return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
    }

    private static byte[] readBody(InputStream in, Path file, int expected, int headerBytes, String shape)
            throws IOException {
        // Grow towards the announced size instead of trusting it up front: a corrupt header must not make
        // us allocate gigabytes before discovering that the file is short.
        byte[] body = new byte[Math.min(expected, 1 << 24)];
        int got = 0;
        while (got < expected) {
            if (got == body.length) {
                body = java.util.Arrays.copyOf(body, (int) Math.min(expected, 2L * body.length));
            }
            int r = in.read(body, got, body.length - got);
            if (r < 0) {
                break;
            }
            got += r;
        }
        if (got < expected) {
            throw new UserException(file + ": truncated: expected " + expected + " bytes after the " + headerBytes
                    + "-byte header" + shape + ", found " + got + REMEDY);
        }
        long extra = 0;
        byte[] scratch = new byte[8192];
        for (int r; (r = in.read(scratch)) > 0; ) {
            extra += r;
        }
        if (extra > 0) {
            throw new UserException(file + ": " + extra + " unexpected trailing bytes after the " + expected
                    + " bytes announced by the header" + shape + REMEDY);
        }
        return body;
    }

    private static UserException ioFailure(Path file, IOException e) {
        if (e instanceof ZipException || e instanceof EOFException) {
            // GZIPInputStream reports a cut-off or damaged stream this way.
            return new UserException(file + ": corrupt or truncated gzip data (" + oneLine(e) + ")" + REMEDY, e);
        }
        if (e instanceof NoSuchFileException) {
            return new UserException(file + ": file not found", e);
        }
        return new UserException(file + ": cannot read (" + oneLine(e) + ")", e);
    }

    /** A throwable as one line, including its cause when it has no message of its own (e.g. ConnectException). */
    static String oneLine(Throwable e) {
        String m = e.getClass().getSimpleName();
        if (e.getMessage() != null) {
            m += ": " + e.getMessage();
        } else {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            if (root != e) {
                m += " (" + root.getClass().getSimpleName() + (root.getMessage() != null ? ": " + root.getMessage() : "") + ")";
            }
        }
        return m.replaceAll("\\s+", " ").trim();
    }
}
