package dev.pdecnn.cli;

import dev.pdecnn.bench.Bench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Times full training steps (forward, loss, backward, SGD update) on random data and prints",
                "median, min and p90 milliseconds, images/s, process CPU ms and peak heap as a Markdown table. Warm-up",
                "steps (the JIT needs about 20) are excluded; all cores are used. Results: docs/benchmarks.md."})
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(paramLabel = "MODEL", arity = "0..*", defaultValue = "mnist", description = "Benchmarks: mnist (the "
            + "eight MNIST models), cifar (resnet32, resnet32_global), global (the Global layer alone), all, or "
            + "single names such as pde_const_c8, pde_pm_c1, cnn_c8, resnet32. Default: ${DEFAULT-VALUE}.")
    List<String> models;

    @Option(names = "--batch", defaultValue = "128", description = "Batch size. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(names = "--warmup", defaultValue = "20", description = "Untimed warm-up steps. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--reps", defaultValue = "20", description = "Timed steps. Default: ${DEFAULT-VALUE}.")
    int reps;

    @Override
    public Integer call() {
        return Bench.run(Bench.expand(models), batch, warmup, reps, main.out);
    }
}
