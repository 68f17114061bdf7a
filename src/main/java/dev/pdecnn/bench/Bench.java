package dev.pdecnn.bench;

import dev.pdecnn.Settings;
import dev.pdecnn.UserException;
import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.train.TrainStep;
import dev.pdecnn.nn.GlobalLayer;
import dev.pdecnn.nn.GlobalSpec;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Wall-clock benchmarks of the CPU backends: one full SGD training step of a model (zeroGrad, forward,
 * softmax cross-entropy, backward, momentum SGD with weight decay on every trainable tensor), and the Global
 * layer alone (forward, backward). Inputs and labels are random with a fixed seed; the numbers are the
 * median, minimum and 90th percentile of {@code reps} timed repetitions after {@code warmup} untimed ones
 * (which also let the JIT compile the kernels: use 20 or more for the MNIST models, whose kernels are called
 * with short loops). "CPU ms" is the mean CPU time of the whole process per timed repetition (all threads, GC
 * included): CPU ms / median ms is about the parallel speed-up, and on a busy machine it shows the work done when
 * the wall time is inflated by other processes. Peak heap is the sum of the heap memory pools' peak usage
 * over the timed repetitions (pools are reset after warm-up), an upper bound of the live peak.
 *
 * <p>Benchmark names ({@link #NAMES}): {@code cnn_c8}, {@code residual_c1}, {@code pde_const_c8},
 * {@code pde_pm_c1}, ... (MNIST block, width C), {@code resnet32}, {@code resnet32_global}, and
 * {@code global} (the Global layer alone, defaults of Table 2 row 2, on a batch x 16 x 32 x 32 map, K = 5).
 * Group names: {@code mnist} (all eight MNIST rows), {@code cifar} (the two ResNets), {@code all}.
 */
public final class Bench {
    private Bench() {
    }

    /** Timings of one benchmark row; times in milliseconds. */
    public record Result(String name, int batch, int reps, double medianMs, double minMs, double p90Ms,
                         double imagesPerSec, long peakHeapBytes, double cpuMs) {
    }

    public static final List<String> MNIST = List.of("cnn_c8", "residual_c8", "pde_const_c8", "pde_pm_c8",
            "cnn_c1", "residual_c1", "pde_const_c1", "pde_pm_c1");
    public static final List<String> CIFAR = List.of("resnet32", "resnet32_global");
    /** Every single benchmark name. */
    public static final List<String> NAMES;

    static {
        List<String> all = new ArrayList<>(MNIST);
        all.addAll(CIFAR);
        all.add("global");
        NAMES = List.copyOf(all);
    }

    public static Backend backend(DType dtype) {
        Backend be = dtype == DType.F64 ? new ReferenceBackend() : new CpuBackend();
        return Settings.BENCH_PROFILE.flag(false) ? Profile.wrap(be) : be;
    }

    /** {@code be}, wrapped in the per-operation profile when {@code -Dpdecnn.bench.profile=true}. */
    public static Backend profiledIfAsked(Backend be) {
        return Settings.BENCH_PROFILE.flag(false) ? Profile.wrap(be) : be;
    }

    /**
     * The run configuration of a benchmark name (see the class comment); throws {@link UserException} for an
     * unknown name.
     */
    public static RunConfig config(String name) {
        String n = name.toLowerCase(Locale.ROOT).replace('-', '_');
        if (n.startsWith("mnist_")) {
            n = n.substring("mnist_".length());
        }
        RunConfig cfg = new RunConfig();
        String src = "bench";
        if (n.equals("resnet32") || n.equals("resnet32_global")) {
            cfg.set("model", n, src);
            cfg.set("dataset", "cifar10", src);
            return cfg;
        }
        int cut = n.lastIndexOf("_c");
        int channels = 8;
        String base = n;
        if (cut > 0) {
            try {
                channels = Integer.parseInt(n.substring(cut + 2));
                base = n.substring(0, cut);
            } catch (NumberFormatException e) {
                // no width suffix
            }
        }
        switch (base) {
            case "cnn", "residual" -> cfg.set("model", base, src);
            case "pde", "pde_const", "pde_constant" -> {
                cfg.set("model", "pde", src);
                cfg.set("diffusivity", "constant", src);
            }
            case "pde_pm", "pde_perona_malik" -> {
                cfg.set("model", "pde", src);
                cfg.set("diffusivity", "perona_malik", src);
            }
            default -> throw new UserException("bench: unknown model '" + name + "'; known: " + NAMES
                    + ", or the groups mnist, cifar, all");
        }
        cfg.set("channels", channels, src);
        cfg.set("dataset", "mnist", src);
        return cfg;
    }

    /** Expands group names (mnist, cifar, all) and checks the rest. */
    public static List<String> expand(List<String> names) {
        List<String> out = new ArrayList<>();
        for (String s : names) {
            switch (s.toLowerCase(Locale.ROOT)) {
                case "mnist" -> out.addAll(MNIST);
                case "cifar" -> out.addAll(CIFAR);
                case "all" -> out.addAll(NAMES);
                case "global" -> out.add("global");
                default -> {
                    config(s); // validates the name
                    out.add(s);
                }
            }
        }
        return out;
    }

    /** Times full training steps of the model {@code cfg} describes at the given batch size. */
    public static Result trainStep(RunConfig cfg, int batch, int warmup, int reps, DType dtype) {
        return trainStep(cfg, batch, warmup, reps, backend(dtype));
    }

    /** {@link #trainStep(RunConfig, int, int, int, DType)} on the given backend (a CPU backend or a GPU's). */
    public static Result trainStep(RunConfig cfg, int batch, int warmup, int reps, Backend be) {
        checkCounts(batch, warmup, reps);
        Network net = Models.build(cfg, be);
        net.train(true);
        int[] chw = net.inputChw;
        SplittableRandom r = new SplittableRandom(42);
        Tensor x = random(be, r, batch, chw[0], chw[1], chw[2]);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) {
            labels[i] = r.nextInt(net.classes);
        }
        TrainStep train = new TrainStep(net);
        Runnable step = () -> {
            train.train(x, labels, 0.01, 0.9, 5e-4, null);
            be.device().synchronize(); // a GPU queues its launches: the step's time is the time until they have run
        };
        try {
            return time(net.name, batch, warmup, reps, step);
        } finally {
            be.device().releaseDevice(); // this model's parameters leave the device before the next benchmark's arrive
        }
    }

    /**
     * Times forward + backward of a Global layer ({@link GlobalSpec#defaults}(K): dwconv velocity and
     * diffusivity, identity init) on an n x c x h x w map; the gradient fed back is random.
     */
    public static Result globalLayer(int n, int c, int h, int w, int k, int warmup, int reps, DType dtype) {
        return globalLayer(n, c, h, w, k, warmup, reps, backend(dtype));
    }

    /** {@link #globalLayer(int, int, int, int, int, int, int, DType)} on the given backend. */
    public static Result globalLayer(int n, int c, int h, int w, int k, int warmup, int reps, Backend be) {
        checkCounts(n, warmup, reps);
        GlobalLayer layer = new GlobalLayer(be, c, GlobalSpec.defaults(k));
        SplittableRandom r = new SplittableRandom(7);
        for (Param p : layer.trainableParams()) {
            if (p.value.rank() == 4) {
                for (int i = 0; i < p.value.size(); i++) {
                    p.value.set(i, r.nextGaussian() * Math.sqrt(2.0 / 9));
                }
            }
        }
        layer.train(true);
        layer.paramStore(); // gradients in one flat tensor: zeroGrad is one fill, as in a network
        Tensor x = random(be, r, n, c, h, w);
        Tensor gy = random(be, r, n, c, h, w);
        Runnable step = () -> {
            try (StepArena.Step s = be.arena().open()) {
                layer.zeroGrad();
                layer.forward(x);
                layer.backward(gy);
            }
            be.device().synchronize();
        };
        try {
            return time("global " + n + "x" + c + "x" + h + "x" + w + " K=" + k, n, warmup, reps, step);
        } finally {
            be.device().releaseDevice();
        }
    }

    private static void checkCounts(int batch, int warmup, int reps) {
        if (batch < 1 || warmup < 0 || reps < 1) {
            throw new UserException("bench: batch and reps must be >= 1 and warmup >= 0, got batch " + batch
                    + ", warmup " + warmup + ", reps " + reps);
        }
    }

    static Tensor random(Backend be, SplittableRandom r, int... shape) {
        Tensor t = be.zeros(shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, r.nextGaussian());
        }
        return t;
    }

    static Result time(String name, int batch, int warmup, int reps, Runnable step) {
        for (int i = 0; i < warmup; i++) {
            step.run();
        }
        List<MemoryPoolMXBean> pools = new ArrayList<>();
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP && p.isValid()) {
                pools.add(p);
                p.resetPeakUsage();
            }
        }
        double[] ms = new double[reps];
        Profile.reset();
        long cpu0 = processCpuNanos();
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        double cpuMs = (processCpuNanos() - cpu0) / 1e6 / reps;
        Profile.print(name, reps);
        long peak = 0;
        for (MemoryPoolMXBean p : pools) {
            peak += p.getPeakUsage().getUsed();
        }
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        double median = reps % 2 == 1 ? sorted[reps / 2] : 0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2]);
        double p90 = sorted[Math.min(reps - 1, (int) Math.ceil(0.9 * reps) - 1)];
        return new Result(name, batch, reps, median, sorted[0], p90, batch * 1000.0 / median, peak, cpuMs);
    }

    /** CPU time of the whole process (all threads, GC included), or -1 when the JVM cannot tell. */
    private static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return -1;
    }

    /** Markdown table header matching {@link #row}. */
    public static String header() {
        return "| model | batch | median ms | img/s | min ms | p90 ms | CPU ms | peak heap MiB |\n"
                + "|---|---:|---:|---:|---:|---:|---:|---:|";
    }

    public static String row(Result r) {
        return String.format(Locale.ROOT, "| %s | %d | %.1f | %.0f | %.1f | %.1f | %.0f | %.0f |", r.name(),
                r.batch(), r.medianMs(), r.imagesPerSec(), r.minMs(), r.p90Ms(), r.cpuMs(),
                r.peakHeapBytes() / (1024.0 * 1024.0));
    }

    /** Runs one named benchmark in float32 (the product path) on a fresh CPU backend. */
    public static Result runOne(String name, int batch, int warmup, int reps) {
        return runOne(name, batch, warmup, reps, () -> backend(DType.F32));
    }

    /** Runs one named benchmark on a backend from {@code backends} (each benchmark gets its own). */
    public static Result runOne(String name, int batch, int warmup, int reps, Supplier<Backend> backends) {
        if (name.equalsIgnoreCase("global")) {
            return globalLayer(batch, 16, 32, 32, 5, warmup, reps, backends.get());
        }
        return trainStep(config(name), batch, warmup, reps, backends.get());
    }

    /**
     * Runs the named benchmarks (names or groups, see the class comment) in float32 and prints a Markdown
     * table to {@code out}, one row per benchmark as it completes. Returns 0 (the process exit code).
     */
    public static int run(List<String> models, int batch, int warmup, int reps, PrintStream out) {
        return run(models, batch, warmup, reps, out, null, () -> backend(DType.F32));
    }

    /**
     * {@link #run(List, int, int, int, PrintStream)} on backends from {@code backends}; {@code device} describes
     * them in the heading (null: the CPU backend, described by its threads and GEMM).
     */
    public static int run(List<String> models, int batch, int warmup, int reps, PrintStream out, String device,
                          Supplier<Backend> backends) {
        List<String> names = expand(models.isEmpty() ? List.of("all") : models);
        checkCounts(batch, warmup, reps);
        String where = device != null ? device : String.format(Locale.ROOT, "%d threads, convolutions: %s",
                dev.pdecnn.backend.cpu.Parallel.threads(), dev.pdecnn.backend.cpu.CpuBackend.describeConvolutions());
        out.println(String.format(Locale.ROOT, "float32, %s, warm-up %d, timed repetitions %d", where, warmup, reps));
        out.println();
        out.println(header());
        for (String n : names) {
            out.println(row(runOne(n, batch, warmup, reps, backends)));
            out.flush();
        }
        return 0;
    }
}
