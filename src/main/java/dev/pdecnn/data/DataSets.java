package dev.pdecnn.data;

import dev.pdecnn.UserException;
import dev.pdecnn.config.Choices;
import dev.pdecnn.config.Choices.DataSet;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Resolves a dataset name and an optional data folder to loaded train and test splits. */
public final class DataSets {
    /** The accepted dataset names ({@link DataSet}'s). */
    public static final List<String> NAMES = Choices.names(DataSet.values());

    private DataSets() {
    }

    /**
     * Loads {@code dataset}:
     * <ul>
     *   <li>{@code mnist}: the four IDX files in {@code dir}; without a folder, the download cache
     *       ({@link MnistFetcher#defaultCacheDir()}), fetched first if incomplete.</li>
     *   <li>{@code cifar10}: {@code dir} with the binary batches (directly or in {@code cifar-10-batches-bin/})
     *       via {@link Cifar10}, or an image folder ({@code train/<class>/}, {@code test/<class>/}) via
     *       {@link ImageFolder}; without a folder, the download cache ({@link Cifar10Fetcher#defaultCacheDir()}),
     *       fetched first if incomplete.</li>
     *   <li>{@code folder}: an image folder via {@link ImageFolder}; {@code dir} is required.</li>
     * </ul>
     *
     * @param dir folder given by the user ({@code --data-dir}), or null for the default cache
     * @param log progress lines (may be null)
     */
    public static Split load(String dataset, Path dir, PrintStream log) {
        DataSet d = Choices.find(DataSet.class, dataset);
        if (d == null) {
            throw new UserException("unknown dataset '" + dataset + "'; use one of " + String.join(", ", NAMES));
        }
        return load(d, dir, log);
    }

    /** As {@link #load(String, Path, PrintStream)}, for a data set the config has already named. */
    public static Split load(DataSet dataset, Path dir, PrintStream log) {
        PrintStream out = log != null ? log : new PrintStream(OutputStream.nullOutputStream());
        if (dir != null && !Files.isDirectory(dir)) {
            throw new UserException("--data-dir " + dir + " is not a folder; " + switch (dataset) {
                case MNIST -> "point it at the folder with the four MNIST IDX files, or leave it out to use the download cache";
                case CIFAR10 -> "point it at the CIFAR-10 binary folder or an image folder, or leave it out to use the download cache";
                case FOLDER -> "point it at a folder with train/<class>/ and test/<class>/ sub-folders of PNG or JPEG files";
            });
        }
        return switch (dataset) {
            case MNIST -> {
                Path d = dir;
                if (d == null) {
                    d = MnistFetcher.defaultCacheDir();
                    if (!MnistFetcher.verify(d).stream().allMatch(MnistFetcher.FileStatus::ok)) {
                        out.println("MNIST not found in " + d + "; fetching it (or pass --data-dir)");
                        new MnistFetcher().fetch(d, out);
                    }
                }
                yield Mnist.load(d);
            }
            case CIFAR10 -> {
                if (dir == null) {
                    Path cache = Cifar10Fetcher.defaultCacheDir();
                    if (!Cifar10.isComplete(cache)) {
                        out.println("CIFAR-10 not found in " + cache + "; fetching it (or pass --data-dir)");
                        new Cifar10Fetcher().fetch(cache, out);
                    }
                    yield Cifar10.load(cache);
                }
                if (Cifar10.locate(dir).isPresent()) {
                    yield Cifar10.load(dir);
                }
                if (ImageFolder.looksLike(dir)) {
                    Split s = ImageFolder.load(dir, out, "cifar10");
                    if (s.train().numClasses() != Cifar10.NUM_CLASSES) {
                        out.println("cifar10: note: " + dir + " has " + s.train().numClasses() + " classes, not 10");
                    }
                    yield s;
                }
                throw new UserException("--data-dir " + dir + " holds neither the CIFAR-10 binary batches ("
                        + String.join(", ", Cifar10.FILES) + ", directly or in " + Cifar10.SUBFOLDER
                        + "/) nor an image folder (train/<class>/ and test/<class>/ with PNG or JPEG files); "
                        + "point it at one of those, or leave it out to download CIFAR-10 into the cache");
            }
            case FOLDER -> {
                if (dir == null) {
                    throw new UserException("--dataset folder needs --data-dir pointing at a folder with train/<class>/"
                            + " and test/<class>/ sub-folders of PNG or JPEG files");
                }
                yield ImageFolder.load(dir, out);
            }
        };
    }
}
