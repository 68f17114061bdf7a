package dev.pdecnn.train;

import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.DataSets;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.data.Split;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/** Resolves a config's data set to loaded train and test splits (fetching into the cache when needed). */
public final class DataSources {
    private DataSources() {
    }

    public static Split load(RunConfig cfg, PrintStream log) {
        Split split = DataSets.load(cfg.dataset, cfg.dataDir == null ? null : Path.of(cfg.dataDir), log);
        // evenly spaced, not a prefix: image folders are sorted by class, so a prefix would hold one class only
        if (cfg.limitTrain > 0 && cfg.limitTrain < split.train().size()) {
            split = new Split(split.train().evenSubset(cfg.limitTrain), split.test());
        }
        if (cfg.limitTest > 0 && cfg.limitTest < split.test().size()) {
            split = new Split(split.train(), split.test().evenSubset(cfg.limitTest));
        }
        noteLimit(log, "--limit-train", cfg.limitTrain, split.train());
        noteLimit(log, "--limit-test", cfg.limitTest, split.test());
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
