package dev.pdecnn.bench;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cpu.Parallel;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.export.OnnxExport;
import dev.pdecnn.export.OnnxRuntimeCheck;
import dev.pdecnn.export.OnnxRuntimeModel;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.TrainStep;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Inference speed of the plain and the condensed networks (bench --inference): evaluation-mode forward passes
 * of ResNet32 and every row of the study's Table 2 at batch 1 and batch 64, on our float32 CPU backend and on
 * ONNX Runtime's CPU provider with the same number of threads, next to each model's parameters and MACs. The study
 * promises about 5x fewer MACs; this shows what they buy in wall-clock time on a CPU.
 *
 * <p>Each model gets random weights (the seed's initialisation) and BN running statistics of one training-mode
 * pass over 64 random images, so evaluation mode sees activations of the usual range (untrained statistics make
 * Global layers overflow, SPEC §8, and float32 infinities and NaNs are not what a deployed model computes). The
 * ONNX model is the export of that same network ({@link OnnxExport}) without the input normalisation, so both sides
 * take the same normalised batch. Times are medians of {@code reps} timed calls after {@code warmup} untimed ones;
 * ONNX Runtime's include copying the input into its tensor and the logits out, ours reading the logits.
 */
public final class InferenceBench {
    /** Table 2 rows: name -> config keys set on top of the model's defaults (configs/cifar10/*.yaml). */
    public static final Map<String, Map<String, Object>> ROWS = rows();
    public static final int[] BATCHES = {1, 64};

    private InferenceBench() {
    }

    private static Map<String, Map<String, Object>> rows() {
        Map<String, Map<String, Object>> r = new LinkedHashMap<>();
        r.put("row1_resnet32", Map.of("model", "resnet32"));
        r.put("row2_resnet32_global", Map.of());
        r.put("row3_velocity_identity_d_constant", Map.of("velocity_net", "identity", "diffusivity", "constant"));
        r.put("row4_basic_basic", Map.of("velocity_net", "basic", "diffusivity_net", "basic"));
        r.put("row5_perona_malik", Map.of("diffusivity", "perona_malik"));
        r.put("row6_init_basic", Map.of("init", "basic"));
        r.put("row7_diffusion", Map.of("velocity", "zero_input")); // as the study ran it (issue 25)
        r.put("diffusion_exact_zero", Map.of("velocity", "zero"));
        r.put("row8_advection", Map.of("diffusivity", "zero"));
        return r;
    }

    /** One model at one batch size: our median and ONNX Runtime's, in milliseconds. */
    public record Row(String name, long params, long macs, int batch, double oursMs, double ortMs) {
    }

    static RunConfig config(String row) {
        Map<String, Object> keys = ROWS.get(row);
        if (keys == null) {
            throw new UserException("bench --inference: unknown model '" + row + "'; known: " + ROWS.keySet());
        }
        RunConfig cfg = new RunConfig();
        cfg.set("model", "resnet32_global", "bench");
        cfg.set("dataset", "cifar10", "bench");
        keys.forEach((k, v) -> cfg.set(k, v, "bench"));
        cfg.bnMomentum = 1.0; // the calibration pass below sets the running statistics to its batch's
        return cfg;
    }

    /** Times the named rows (all when empty) at batch 1 and 64 and prints one Markdown table. */
    public static int run(List<String> names, int warmup, int reps, PrintStream out) {
        OnnxRuntimeCheck.require("bench --inference");
        if (warmup < 0 || reps < 1) {
            throw new UserException("bench: reps must be >= 1 and warmup >= 0, got warmup " + warmup + ", reps " + reps);
        }
        List<String> rows = names.isEmpty() ? List.copyOf(ROWS.keySet()) : names;
        rows.forEach(InferenceBench::config); // unknown names fail before any timing
        int threads = Parallel.threads();
        out.printf(Locale.ROOT, "evaluation-mode forward, float32, %d threads on both sides; ours: convolutions %s; "
                + "ONNX Runtime %s (CPU provider, all graph optimisations); warm-up %d, timed %d%n%n", threads,
                CpuBackend.describeConvolutions(), OnnxRuntimeCheck.VERSION, warmup, reps);
        out.println("| model | params | MACs | batch | ours ms | ours img/s | ORT ms | ORT img/s | ORT speed-up |");
        out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (String name : rows) {
            for (Row r : time(name, warmup, reps, threads)) {
                out.printf(Locale.ROOT, "| %s | %,d | %.2fM | %d | %.1f | %.0f | %.1f | %.0f | %.2fx |%n", r.name(),
                        r.params(), r.macs() / 1e6, r.batch(), r.oursMs(), r.batch() * 1000 / r.oursMs(), r.ortMs(),
                        r.batch() * 1000 / r.ortMs(), r.oursMs() / r.ortMs());
                out.flush();
            }
        }
        return 0;
    }

    /** Both runtimes on one model at every batch size of {@link #BATCHES}. */
    static List<Row> time(String name, int warmup, int reps, int threads) {
        RunConfig cfg = config(name);
        Network net = Models.build(cfg, new CpuBackend());
        int[] chw = net.inputChw;
        SplittableRandom r = new SplittableRandom(42);
        calibrate(net, random(r, 64 * chw[0] * chw[1] * chw[2]), 64);
        long params = net.namedParams().values().stream().filter(p -> p.trainable).mapToLong(Param::size).sum();
        List<String> classes = IntStream.range(0, net.classes).mapToObj(i -> "class " + i).toList();
        byte[] onnx = OnnxExport.build(net, null, null, classes, Map.of()).toByteArray();
        TrainStep step = new TrainStep(net);
        List<Row> out = new ArrayList<>();
        try (OnnxRuntimeModel ort = new OnnxRuntimeModel(onnx, threads)) {
            for (int b : BATCHES) {
                float[] x = random(r, b * chw[0] * chw[1] * chw[2]);
                Tensor t = Tensor.of(x, b, chw[0], chw[1], chw[2]);
                double ours = Bench.time(name, b, warmup, reps, () -> step.eval(t, l -> l.get(0))).medianMs();
                double theirs = Bench.time(name, b, warmup, reps, () -> ort.logits(x, b)).medianMs();
                out.add(new Row(name, params, net.macs(), b, ours, theirs));
            }
        }
        return out;
    }

    /** One training-mode forward pass (no update): with BN momentum 1 the running statistics become the batch's. */
    private static void calibrate(Network net, float[] x, int n) {
        int[] chw = net.inputChw;
        net.train(true);
        try (StepArena.Step s = net.backend().arena().open()) {
            net.forward(Tensor.of(x, n, chw[0], chw[1], chw[2]));
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }
}
