package dev.pdecnn.cli;

import dev.pdecnn.bench.Bench;
import dev.pdecnn.bench.ConvBench;
import dev.pdecnn.bench.InferenceBench;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.run.Devices;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Times full training steps (forward, loss, backward, SGD update) on random data and prints",
                "median, min and p90 milliseconds, images/s, process CPU ms and peak heap as a Markdown table. Warm-up",
                "steps (the JIT needs about 20) are excluded; all cores are used. Results: docs/benchmarks.md.",
                "--inference instead times evaluation-mode forward passes of ResNet32 and every Table 2 row at batch 1",
                "and 64, ours against ONNX Runtime (CPU, same threads), with parameters and MACs; it needs",
                "onnxruntime.jar on the class path (java -cp trainer.jar:onnxruntime-VERSION.jar dev.pdecnn.cli.Main",
                "bench --inference; docs/onnx.md)."})
final class BenchCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(paramLabel = "MODEL", arity = "0..*", defaultValue = "mnist", description = "Benchmarks: mnist (the "
            + "eight MNIST models), cifar (resnet32, resnet32_global), global (the Global layer alone), all, or "
            + "single names such as pde_const_c8, pde_pm_c1, cnn_c8, resnet32. Default: ${DEFAULT-VALUE}.")
    List<String> models;

    @Option(names = "--inference", description = "Time inference (batch 1 and 64) of resnet32 and the Table 2 rows "
            + "on our CPU backend and on ONNX Runtime; MODEL then names rows (row1_resnet32 .. row8_advection), "
            + "default all eight. --warmup and --reps apply; --batch and --device do not.")
    boolean inference;

    @Option(names = "--convs", description = "Instead time every convolution shape of the models (default all) on "
            + "the CPU backend's two paths, the built-in kernels and oneDNN, forward + backward, and show which one "
            + "pdecnn.cpu.conv=auto takes; --batch, --warmup and --reps apply.")
    boolean convs;

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

    @Option(names = "--precision", paramLabel = "P", completionCandidates = ChoiceNames.Precisions.class,
            description = "GPU convolutions and dense layer: ${COMPLETION-CANDIDATES} (default fp32; tf32 needs "
                    + "compute capability 8.0+).")
    String precision;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (inference) {
            boolean named = spec.commandLine().getParseResult().hasMatchedPositional(0);
            return InferenceBench.run(named ? models : List.of(), warmup, reps, main.out);
        }
        if (convs) {
            return ConvBench.run(models, batch, warmup, reps, main.out);
        }
        List<String> names = Bench.expand(models);
        if (device.strip().equalsIgnoreCase("cpu")) {
            return Bench.run(names, batch, warmup, reps, main.out);
        }
        RunConfig checked = new RunConfig(); // the value checked as the key's, with the training command's message
        checked.set("precision", precision, "--precision");
        try (Devices.Opened opened = Devices.open(device, checked.typed().run().precision(), main.out)) {
            String where = opened.gpuDescription();
            int rc = opened.guard(() -> Bench.run(names, batch, warmup, reps, main.out, where,
                    () -> Bench.profiledIfAsked(opened.backend())));
            String graphs = opened.device().graphSummary();
            if (graphs != null) {
                main.out.println();
                main.out.println("CUDA graphs: " + (graphs.startsWith("on") ? graphs
                        : "off (PDECNN_CUDA_GRAPHS=1 turns them on for a GPU; =0 turns them off; they need a pool)"));
            }
            String memory = opened.device().memorySummary();
            if (memory != null) {
                main.out.println();
                main.out.println("device memory (all benchmarks above, one pool): " + memory);
            }
            return rc;
        }
    }
}
