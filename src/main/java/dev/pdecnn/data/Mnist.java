package dev.pdecnn.data;

import dev.pdecnn.UserException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Loads MNIST from a folder holding the four IDX files of the original distribution.
 *
 * <p>Each file may be raw or gzipped and may use the dashed ({@code train-images-idx3-ubyte}) or dotted
 * ({@code train-images.idx3-ubyte}, as some unzip tools and Windows mirrors produce) spelling. Any
 * 28x28-like IDX set with ten classes under these names works (Fashion-MNIST, KMNIST), since nothing here
 * hard-codes the image size; train and test must merely agree.
 */
public final class Mnist {
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte";

    /** The canonical names of the four files, in the order the fetcher reports them. */
    public static final List<String> FILES = List.of(TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS);

    public static final int NUM_CLASSES = 10;
    public static final List<String> CLASS_NAMES = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    private static final String HOW_TO_GET =
            "run `java -jar target/trainer.jar data mnist` to download it, or pass --data-dir pointing at a folder with the MNIST IDX files";

    private Mnist() {
    }

    /** Loads both splits from {@code dir}. */
    public static Split load(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new UserException("MNIST folder " + dir + " does not exist; " + HOW_TO_GET);
        }
        Dataset train = loadPair(require(dir, TRAIN_IMAGES), require(dir, TRAIN_LABELS), "mnist");
        Dataset test = loadPair(require(dir, TEST_IMAGES), require(dir, TEST_LABELS), "mnist");
        if (train.h() != test.h() || train.w() != test.w()) {
            throw new UserException(dir + ": the test images are " + test.h() + "x" + test.w()
                    + " but the training images are " + train.h() + "x" + train.w()
                    + "; the folder mixes files from different datasets");
        }
        return new Split(train, test);
    }

    /** Loads one images/labels pair and checks that their counts agree. */
    public static Dataset loadPair(Path images, Path labels, String name) {
        IdxReader.Images img = IdxReader.readImages(images);
        int[] lab = IdxReader.readLabels(labels, NUM_CLASSES);
        if (lab.length != img.count()) {
            throw new UserException(labels + ": has " + lab.length + " labels but " + images.getFileName() + " has "
                    + img.count() + " images; the two files do not belong together, re-fetch with "
                    + "`java -jar target/trainer.jar data mnist`");
        }
        return new Dataset(name, img.pixels(), lab, 1, img.rows(), img.cols(), CLASS_NAMES);
    }

    /**
     * Finds the file for a canonical name, trying the raw name first, then gzipped, then the dotted
     * spellings. The order matters: the fetcher writes the raw name, so a fresh download takes precedence
     * over a stale {@code .gz} left in the same folder.
     */
    public static Optional<Path> locate(Path dir, String canonicalName) {
        for (String candidate : candidates(canonicalName)) {
            Path p = dir.resolve(candidate);
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** All accepted file names for a canonical name, in lookup order. */
    public static List<String> candidates(String canonicalName) {
        String dotted = canonicalName.replace("-idx", ".idx");
        List<String> names = new ArrayList<>(4);
        names.add(canonicalName);
        names.add(canonicalName + ".gz");
        if (!dotted.equals(canonicalName)) {
            names.add(dotted);
            names.add(dotted + ".gz");
        }
        return names;
    }

    private static Path require(Path dir, String canonicalName) {
        return locate(dir, canonicalName).orElseThrow(() -> new UserException(
                dir.resolve(canonicalName) + " (or " + canonicalName + ".gz) not found; " + HOW_TO_GET));
    }
}
