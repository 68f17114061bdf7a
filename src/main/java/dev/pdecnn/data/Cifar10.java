package dev.pdecnn.data;

import dev.pdecnn.UserException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Loads the binary version of CIFAR-10 ({@code cifar-10-binary.tar.gz} extracted): {@code data_batch_1.bin}
 * .. {@code data_batch_5.bin} for training and {@code test_batch.bin} for testing, either directly in the
 * given folder or in its {@code cifar-10-batches-bin/} sub-folder (the archive's own layout).
 *
 * <p>Each file is a sequence of 3073-byte records: one label byte (0..9), then the 32x32 red plane, the
 * green plane and the blue plane, each row-major. That is already NCHW order for one sample, so the 3072
 * pixel bytes are copied as they are.
 */
public final class Cifar10 {
    public static final int SIDE = 32;
    public static final int CHANNELS = 3;
    public static final int IMAGE_BYTES = CHANNELS * SIDE * SIDE;
    /** Bytes per record: label byte plus the three colour planes. */
    public static final int RECORD = 1 + IMAGE_BYTES;
    public static final int NUM_CLASSES = 10;

    public static final List<String> TRAIN_FILES = List.of(
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin");
    public static final String TEST_FILE = "test_batch.bin";
    /** All six batch files, training first. */
    public static final List<String> FILES = List.of(
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin",
            TEST_FILE);
    /** The sub-folder the official archive extracts into. */
    public static final String SUBFOLDER = "cifar-10-batches-bin";
    public static final String META_FILE = "batches.meta.txt";

    /** The standard class names, in label order (also the content of {@code batches.meta.txt}). */
    public static final List<String> CLASS_NAMES = List.of(
            "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");

    static final String HOW_TO_GET = "extract cifar-10-binary.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html)"
            + " again, or pass --data-dir pointing at an image folder with train/<class>/ and test/<class>/"
            + " (one folder of images per class)";

    private Cifar10() {
    }

    /**
     * The folder holding the batch files: {@code dir} itself if it has any of them, else
     * {@code dir/cifar-10-batches-bin} if that has any; empty if neither does.
     */
    public static Optional<Path> locate(Path dir) {
        for (Path candidate : List.of(dir, dir.resolve(SUBFOLDER))) {
            if (Files.isDirectory(candidate)) {
                for (String f : FILES) {
                    if (Files.isRegularFile(candidate.resolve(f))) {
                        return Optional.of(candidate);
                    }
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Whether {@code dir} (or its {@code cifar-10-batches-bin/}) holds all six batch files, each a positive
     * multiple of {@link #RECORD} bytes long. A cheap check (sizes only) used to decide whether to fetch.
     */
    public static boolean isComplete(Path dir) {
        Optional<Path> base = locate(dir);
        if (base.isEmpty()) {
            return false;
        }
        for (String f : FILES) {
            Path p = base.get().resolve(f);
            try {
                long size = Files.size(p);
                if (size <= 0 || size % RECORD != 0) {
                    return false;
                }
            } catch (IOException e) {
                return false;
            }
        }
        return true;
    }

    /** Loads both splits from {@code dir} or {@code dir/cifar-10-batches-bin}. */
    public static Split load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new UserException("CIFAR-10 folder " + dir + " does not exist; " + HOW_TO_GET);
        }
        Path base = locate(dir).orElse(dir);
        List<String> missing = new ArrayList<>();
        for (String f : FILES) {
            if (!Files.isRegularFile(base.resolve(f))) {
                missing.add(f);
            }
        }
        if (!missing.isEmpty()) {
            throw new UserException(base.resolve(missing.get(0)) + " not found"
                    + (missing.size() > 1 ? " (missing in " + base + ": " + String.join(", ", missing) + ")" : "")
                    + "; a CIFAR-10 binary folder needs " + String.join(", ", FILES) + "; " + HOW_TO_GET);
        }
        List<String> classes = classNames(base);
        List<Path> train = TRAIN_FILES.stream().map(base::resolve).toList();
        Dataset tr = readBatches(train, classes, "cifar10");
        Dataset te = readBatches(List.of(base.resolve(TEST_FILE)), classes, "cifar10");
        return new Split(tr, te);
    }

    /**
     * Class names from {@code batches.meta.txt} (one per line, blank lines ignored) when it is present and
     * names exactly ten classes, else {@link #CLASS_NAMES}.
     */
    static List<String> classNames(Path base) {
        Path meta = base.resolve(META_FILE);
        if (!Files.isRegularFile(meta)) {
            return CLASS_NAMES;
        }
        try {
            List<String> names = Files.readAllLines(meta, StandardCharsets.UTF_8).stream()
                    .map(String::strip).filter(s -> !s.isEmpty()).toList();
            return names.size() == NUM_CLASSES ? names : CLASS_NAMES;
        } catch (IOException | java.io.UncheckedIOException e) {
            // The names are cosmetic; an odd meta file must not stop training.
            return CLASS_NAMES;
        }
    }

    /** Reads and concatenates batch files into one dataset, validating sizes and labels. */
    static Dataset readBatches(List<Path> files, List<String> classNames, String name) {
        long total = 0;
        long[] counts = new long[files.size()];
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            long size;
            try {
                size = Files.size(f);
            } catch (NoSuchFileException e) {
                throw new UserException(f + " not found; " + HOW_TO_GET);
            } catch (IOException e) {
                throw new UserException(f + ": cannot read (" + IdxReader.oneLine(e) + ")", e);
            }
            if (size <= 0 || size % RECORD != 0) {
                throw new UserException(f + ": size " + size + " bytes is not a positive multiple of the "
                        + RECORD + "-byte CIFAR-10 record" + (size > RECORD ? " (" + size / RECORD + " whole records and "
                        + size % RECORD + " extra bytes)" : "") + "; the file is truncated or not a CIFAR-10 binary batch; "
                        + HOW_TO_GET);
            }
            counts[i] = size / RECORD;
            total += counts[i];
        }
        if (total * IMAGE_BYTES > Integer.MAX_VALUE - 8) {
            throw new UserException(files.get(0).getParent() + ": " + total + " CIFAR-10 records are more than this "
                    + "loader can hold in one array");
        }
        int n = (int) total;
        byte[] pixels = new byte[n * IMAGE_BYTES];
        int[] labels = new int[n];
        byte[] rec = new byte[RECORD * 256];
        int sample = 0;
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            try (InputStream in = Files.newInputStream(f)) {
                long left = counts[i];
                long recordInFile = 0;
                while (left > 0) {
                    int k = (int) Math.min(left, 256);
                    int got = in.readNBytes(rec, 0, k * RECORD);
                    if (got < k * RECORD) {
                        throw new UserException(f + ": file shrank while being read (ended after "
                                + (recordInFile * RECORD + got) + " bytes)");
                    }
                    for (int r = 0; r < k; r++) {
                        int label = rec[r * RECORD] & 0xff;
                        if (label >= classNames.size()) {
                            throw new UserException(f + ": record " + (recordInFile + r) + " has label " + label
                                    + ", outside 0.." + (classNames.size() - 1) + " (not a CIFAR-10 binary batch? "
                                    + "CIFAR-100 records carry two label bytes); " + HOW_TO_GET);
                        }
                        labels[sample] = label;
                        System.arraycopy(rec, r * RECORD + 1, pixels, sample * IMAGE_BYTES, IMAGE_BYTES);
                        sample++;
                    }
                    left -= k;
                    recordInFile += k;
                }
            } catch (IOException e) {
                throw new UserException(f + ": cannot read (" + IdxReader.oneLine(e) + ")", e);
            }
        }
        return new Dataset(name, pixels, labels, CHANNELS, SIDE, SIDE, classNames);
    }
}
