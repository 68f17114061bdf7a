package dev.pdecnn.cli;

import dev.pdecnn.backend.cuda.CudaBackend;
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

    @Option(names = "--device", defaultValue = "cpu", description = "Where to time: cpu (the float32 CPU backend, "
            + "all cores), a GPU number (0, 1, ...; every benchmark then runs on that GPU's backend, each step timed "
            + "until its kernels have finished), auto or emulated. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--precision", paramLabel = "P", description = "GPU convolutions and dense layer: tf32 or fp32 "
            + "(default: TF32 convolutions on compute capability 8.0+, as PyTorch).")
    String precision;

    @Override
    public Integer call() {
        List<String> names = Bench.expand(models);
        if (device.strip().equalsIgnoreCase("cpu")) {
            return Bench.run(names, batch, warmup, reps, main.out);
        }
        try (Devices.Opened opened = Devices.open(device, precision, main.out)) {
            String where = opened.session() == null ? null : opened.session().description();
            int rc = opened.guard(() -> Bench.run(names, batch, warmup, reps, main.out, where,
                    () -> Bench.profiledIfAsked(opened.backend())));
            if (opened.backend() instanceof CudaBackend cb) {
                main.out.println();
                main.out.println("CUDA graphs: " + (cb.graphs() ? "on, " + cb.graphStats().describe()
                        : "off (PDECNN_CUDA_GRAPHS=1 turns them on for a GPU; =0 turns them off; they need a pool)"));
            }
            String memory = opened.backend().memorySummary();
            if (memory != null) {
                main.out.println();
                main.out.println("device memory (all benchmarks above, one pool): " + memory);
            }
            return rc;
        }
    }
}
