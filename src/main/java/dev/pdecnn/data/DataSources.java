package dev.pdecnn.data;

import dev.pdecnn.config.DataConfig;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Resolves a run's data part ({@link DataConfig}: dataset, data_dir, limit_train, limit_test) to loaded train and
 * test splits, fetching into the cache when needed.
 */
public final class DataSources {
    private DataSources() {
    }

    /** {@code dataDir} null: the download cache; a limit of 0: every image of the split. */
    public static Split load(DataConfig data, PrintStream log) {
        int limitTrain = data.limitTrain(), limitTest = data.limitTest();
        Split split = DataSets.load(data.dataset(), data.dataDir() == null ? null : Path.of(data.dataDir()), log);
        // evenly spaced, not a prefix: image folders are sorted by class, so a prefix would hold one class only
        if (limitTrain > 0 && limitTrain < split.train().size()) {
            split = new Split(split.train().evenSubset(limitTrain), split.test());
        }
        if (limitTest > 0 && limitTest < split.test().size()) {
            split = new Split(split.train(), split.test().evenSubset(limitTest));
        }
        noteLimit(log, "--limit-train", limitTrain, split.train());
        noteLimit(log, "--limit-test", limitTest, split.test());
        return split;
    }

    /** A limit beyond the data is not an error (the run uses all of it), but the user should know. */
    private static void noteLimit(PrintStream log, String option, int limit, Dataset d) {
        if (log != null && limit > d.size()) {
            log.printf(Locale.ROOT, "note: %s %d exceeds the %d images of %s; using all %d%n", option, limit,
                    d.size(), d.name(), d.size());
        }
    }
}
