package dev.pdecnn.cli;

import picocli.CommandLine.Option;

/** Options selecting the data set (shared by train, eval, visualize). */
public class DataOptions {
    @Option(names = "--dataset", completionCandidates = ChoiceNames.DataSets.class, description = "Data set: "
            + "${COMPLETION-CANDIDATES} (folder: an image folder, train/<class>/ and test/<class>/). Default: mnist "
            + "for the MNIST models, cifar10 for ResNets.")
    String dataset;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Folder with the data set files (e.g. "
            + "MNIST's four IDX files, raw or .gz). Default: the download cache ~/.cache/pde-trainer/<dataset>, fetched on first use.")
    String dataDir;

    @Option(names = "--limit-train", paramLabel = "N", defaultValue = "0",
            description = "Use only the first N training images (0 = all), for quick runs. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer limitTrain;

    @Option(names = "--limit-test", paramLabel = "N", defaultValue = "0",
            description = "Use only the first N test images (0 = all). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer limitTest;
}
