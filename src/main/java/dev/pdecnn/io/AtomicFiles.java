package dev.pdecnn.io;

import dev.pdecnn.UserException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;

/**
 * Whole-file writes that never leave a half-written target behind. Training runs are long and get killed
 * (Ctrl-C, OOM, pre-emption) at arbitrary moments; a checkpoint or metrics file must then be either the
 * previous complete version or the new complete version, never a truncated mix.
 */
public final class AtomicFiles {

    /** Like {@link java.util.function.Consumer}, but allowed to throw {@link IOException}. */
    @FunctionalInterface
    public interface IOConsumer<T> {
        void accept(T t) throws IOException;
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private AtomicFiles() {
    }

    /**
     * Streams {@code writer}'s output into a temporary file next to {@code target}, forces it to disk, then
     * renames it over {@code target}. Missing parent directories are created.
     *
     * <p>On any failure the temporary file is deleted and {@code target} keeps its previous content. An
     * {@link IOException} (from the file system or from {@code writer}) becomes a {@link UserException}
     * naming the target; a {@link RuntimeException} or {@link Error} thrown by {@code writer} is rethrown
     * unchanged, because it is a bug or a deliberate abort rather than a disk problem.
     */
    public static void write(Path target, IOConsumer<OutputStream> writer) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // Same directory, so the final rename never crosses a file system and stays atomic. The dot
            // prefix keeps the temporary out of casual listings and glob patterns such as *.safetensors.
            Path candidate = dir.resolve("." + abs.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
            // CREATE_NEW rather than Files.createTempFile: the latter makes the file owner-only (0600), and
            // the rename would carry that mode over to plots and checkpoints meant to be shared.
            FileChannel ch = FileChannel.open(candidate, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            tmp = candidate; // only now is it ours to delete
            try (ch;
                 OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16)) {
                writer.accept(new NonClosingOutputStream(out));
                out.flush();
                // Without this a crash shortly after the rename can leave a renamed but empty file on
                // ext4/xfs: the rename reaches the journal before the data blocks do.
                ch.force(true);
            }
            move(tmp, abs);
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new UserException("cannot write " + target + ": " + describe(e)
                    + "; check that the directory is writable and the disk is not full", e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // Nothing more can be done; the original failure is the one worth reporting.
                }
            }
        }
    }

    /** Writes {@code text} as UTF-8, atomically (see {@link #write(Path, IOConsumer)}). */
    public static void writeString(Path target, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(target, out -> out.write(bytes));
    }

    /** Writes {@code bytes} atomically (see {@link #write(Path, IOConsumer)}). */
    public static void writeBytes(Path target, byte[] bytes) {
        write(target, out -> out.write(bytes));
    }

    private static void move(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            // Some network and FUSE file systems refuse atomic renames; a replacing move is the best they
            // offer, and is still far better than writing the target in place.
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Makes the rename itself durable. Best effort: not every platform can open a directory for sync. */
    private static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | RuntimeException ignored) {
            // Windows and some file systems cannot open or sync a directory; the data file is synced.
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        String kind = e.getClass().getSimpleName();
        return m == null ? kind : kind + " (" + m.replace('\n', ' ') + ")";
    }

    /**
     * Keeps a writer that closes its stream (e.g. via try-with-resources around a wrapper) from closing the
     * channel before we have flushed and forced it.
     */
    private static final class NonClosingOutputStream extends OutputStream {
        private final OutputStream out;

        NonClosingOutputStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.flush();
        }
    }
}
