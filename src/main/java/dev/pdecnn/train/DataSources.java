package dev.pdecnn.train;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.data.Mnist;
import dev.pdecnn.data.MnistFetcher;
import dev.pdecnn.data.Split;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resolves a config's data set to loaded train and test splits, fetching MNIST into the cache when needed. */
public final class DataSources {
    private DataSources() {
    }

    public static Split load(RunConfig cfg, PrintStream log) {
        Split split;
        switch (cfg.dataset) {
            case "mnist" -> {
                Path dir;
                if (cfg.dataDir != null) {
                    dir = Path.of(cfg.dataDir);
                    if (!Files.isDirectory(dir)) {
                        throw new UserException("--data-dir " + dir + " is not a folder; point it at the folder with "
                                + "the four MNIST IDX files, or leave it out to use the download cache");
                    }
                } else {
                    dir = MnistFetcher.defaultCacheDir();
                    if (!MnistFetcher.verify(dir).stream().allMatch(MnistFetcher.FileStatus::ok)) {
                        log.println("MNIST not found in " + dir + "; fetching it (or pass --data-dir)");
                        new MnistFetcher().fetch(dir, log);
                    }
                }
                split = Mnist.load(dir);
            }
            default -> throw new UserException("dataset '" + cfg.dataset + "' is not available in this version; "
                    + "use --dataset mnist");
        }
        if (cfg.limitTrain > 0 && cfg.limitTrain < split.train().size()) {
            split = new Split(split.train().subset(cfg.limitTrain), split.test());
        }
        if (cfg.limitTest > 0 && cfg.limitTest < split.test().size()) {
            split = new Split(split.train(), split.test().subset(cfg.limitTest));
        }
        return split;
    }
}
