package dev.pdecnn.selfcheck;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.TrainStep;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Whole training steps on the device, as the trainer takes them ({@link TrainStep}: forward, softmax
 * cross-entropy, backward, SGD with momentum and weight decay), for the plain ResNet32 (Table 2 row 1) and two
 * condensed networks (row 2, learned velocity and diffusivity; row 5, Perona–Malik), at widths 4 with one block
 * per stage, batch 2 of 32x32x3, from the same He-normal weights on every side.
 *
 * <p>Tolerances, the training-step tests', on e = max |gpu - cpu| / (|cpu| + rms(cpu)) per tensor:
 * float64 on the device against {@link ReferenceBackend}: 1e-10 for the loss and every gradient and parameter
 * after the step (the same algorithm; only the order of operations differs). float32 against {@link CpuBackend}:
 * the loss within 1e-6 relative, gradients and parameters within 1e-3 (two float32 computations through batch
 * norm at batch 2 differ by their rounding), and the device's float32 gradients no further from the float64
 * truth than 4x the CPU's float32 gradients (+1e-5): as accurate as the CPU, not merely close to it.
 *
 * <p>Graphs: the same row-2 network trains 6 steps with graphs on and off (batches of 2 and one of 1, the
 * learning rate changing every step), then evaluates; losses, predictions, every parameter and statistic, and the
 * logits must be bit for bit equal (the same kernels with the same arguments on the same data).
 */
public final class StepChecks {
    static final double F64_TOL = 1e-10, F32_LOSS_TOL = 1e-6, F32_TOL = 1e-3, ACCURACY_FACTOR = 4;
    static final double LR = 0.1, MOMENTUM = 0.9, WD = 5e-4;

    /** Table 2 rows: name and the config keys that differ from the model's defaults. */
    private static final Object[][] MODELS = {
            {"resnet32 (row 1, plain)", "resnet32", null},
            {"resnet32_global (row 2, condensed)", "resnet32_global", null},
            {"resnet32_global perona-malik (row 5)", "resnet32_global", "perona_malik"},
    };

    private StepChecks() {
    }

    static RunConfig config(String model, String diffusivity) {
        RunConfig cfg = new RunConfig();
        cfg.set("model", model, "device check");
        if (diffusivity != null) {
            cfg.set("diffusivity", diffusivity, "device check");
        }
        cfg.set("widths", List.of(4, 4, 4, 4), "device check");
        cfg.set("blocks", 1, "device check");
        // He-normal: no pre-activation within float32 rounding of 0, where a ReLU mask could flip on one side only
        cfg.set("weight_init", "he_normal", "device check");
        cfg.validate();
        return cfg;
    }

    static void steps(DeviceCheck c) {
        for (Object[] m : MODELS) {
            RunConfig cfg = config((String) m[1], (String) m[2]);
            Network init = Models.build(cfg, new CpuBackend());
            c.check("step " + m[0] + " f64", F64_TOL, () -> {
                Stepped ref = step(cfg, new ReferenceBackend(), init, DType.F64);
                return compare(ref, step(cfg, c.backend(DType.F64), init, DType.F64), new DeviceCheck.Measured());
            });
            c.check("step " + m[0] + " f32", F32_TOL, () -> {
                Stepped truth = step(cfg, new ReferenceBackend(), init, DType.F64);
                Stepped cpu = step(cfg, new CpuBackend(), init, DType.F32);
                Stepped gpu = step(cfg, c.backend(DType.F32), init, DType.F32);
                DeviceCheck.Measured r = new DeviceCheck.Measured();
                double lossErr = Math.abs(gpu.loss - cpu.loss) / Math.abs(cpu.loss);
                r.require(lossErr <= F32_LOSS_TOL, String.format(java.util.Locale.ROOT, "loss %.9g vs the CPU's %.9g",
                        gpu.loss, cpu.loss));
                compare(cpu, gpu, r);
                double cpuErr = 0, gpuErr = 0;
                Map<String, Param> t = truth.net.namedParams(), a = cpu.net.namedParams(), b = gpu.net.namedParams();
                for (String k : t.keySet()) {
                    if (t.get(k).trainable) {
                        cpuErr = Math.max(cpuErr, Compare.scaled(t.get(k).grad, a.get(k).grad));
                        gpuErr = Math.max(gpuErr, Compare.scaled(t.get(k).grad, b.get(k).grad));
                    }
                }
                return r.require(gpuErr <= ACCURACY_FACTOR * cpuErr + 1e-5, String.format(java.util.Locale.ROOT,
                        "float32 gradients %.1e from the float64 truth, the CPU's %.1e", gpuErr, cpuErr));
            });
        }
    }

    record Stepped(Network net, double loss) {
    }

    static Stepped step(RunConfig cfg, Backend be, Network init, DType dtype) {
        Network net = Models.build(cfg, be);
        copyWeights(init, net);
        double loss = new TrainStep(net).train(batch(net, 2, dtype, 7), labels(2, 8), LR, MOMENTUM, WD, new int[2]);
        return new Stepped(net, loss);
    }

    /** Every parameter after the step, every gradient, and the loss ({@link Compare#scaled}). */
    private static DeviceCheck.Measured compare(Stepped ref, Stepped got, DeviceCheck.Measured m) {
        m.add("loss", Math.abs(got.loss - ref.loss) / Math.abs(ref.loss));
        Map<String, Param> a = ref.net.namedParams(), b = got.net.namedParams();
        for (Map.Entry<String, Param> e : a.entrySet()) {
            Param p = b.get(e.getKey());
            m.scaled(e.getKey(), e.getValue().value, p.value);
            if (e.getValue().trainable) {
                m.scaled("gradient of " + e.getKey(), e.getValue().grad, p.grad);
            }
        }
        return m;
    }

    static void graphs(DeviceCheck c) {
        if (!c.capturesGraphs()) {
            c.skip("graph replay", "this device makes no CUDA graphs");
            return;
        }
        c.check("graph replay row 2: 6 training steps + evaluation", 0, () -> {
            RunConfig cfg = config("resnet32_global", null);
            Network init = Models.build(cfg, new CpuBackend());
            DeviceCheck.Measured m = new DeviceCheck.Measured();
            try (DeviceMemory pg = DeviceMemory.pool(c.runner(), 64L << 20);
                 DeviceMemory pe = DeviceMemory.pool(c.runner(), 64L << 20)) {
                CudaBackend graphs = c.graphBackend(pg, true), eager = c.graphBackend(pe, false);
                try {
                    Network a = Models.build(cfg, graphs), b = Models.build(cfg, eager);
                    copyWeights(init, a);
                    copyWeights(init, b);
                    TrainStep sa = new TrainStep(a), sb = new TrainStep(b);
                    int steps = 6;
                    for (int i = 0; i < steps; i++) {
                        int n = i == 3 ? 1 : 2; // a second batch shape: a second graph
                        double lr = LR * (1 + Math.cos(Math.PI * i / steps)) / 2;
                        int[] y = labels(n, 100 + i), pa = new int[n], pb = new int[n];
                        double la = sa.train(batch(a, n, DType.F32, i), y, lr, MOMENTUM, WD, pa);
                        double lb = sb.train(batch(b, n, DType.F32, i), y, lr, MOMENTUM, WD, pb);
                        m.require(Double.doubleToRawLongBits(la) == Double.doubleToRawLongBits(lb),
                                "step " + (i + 1) + ": loss " + la + " replayed, " + lb + " eager");
                        m.require(Arrays.equals(pa, pb), "step " + (i + 1) + ": predictions differ");
                    }
                    for (Map.Entry<String, Param> e : b.namedParams().entrySet()) {
                        Param p = a.namedParams().get(e.getKey());
                        m.require(Arrays.equals(bits(e.getValue().value), bits(p.value)), e.getKey() + " differs");
                    }
                    float[] ea = sa.eval(batch(a, 2, DType.F32, 99), t -> t.copy().f32());
                    float[] eb = sb.eval(batch(b, 2, DType.F32, 99), t -> t.copy().f32());
                    m.require(Arrays.equals(ea, eb), "evaluation logits differ");
                    var st = graphs.device().graphStats();
                    m.require(st.replays() > 0, "no step was replayed: " + st.describe());
                } finally {
                    graphs.device().releaseDevice();
                    eager.device().releaseDevice();
                }
            }
            return m;
        });
    }

    private static float[] bits(Tensor t) {
        return t.download().copy().to(DType.F32).f32();
    }

    /** Copies every parameter and buffer of {@code from} into {@code to} (same architecture, any dtypes). */
    public static void copyWeights(Network from, Network to) {
        Map<String, Param> a = from.namedParams(), b = to.namedParams();
        for (Map.Entry<String, Param> e : a.entrySet()) {
            e.getValue().value.download().copyInto(b.get(e.getKey()).value.download());
        }
    }

    /** A batch of {@code n} standard-normal inputs for the network (float-representable). */
    public static Tensor batch(Network net, int n, DType dtype, long seed) {
        int[] chw = net.inputChw;
        Tensor x = Tensor.zeros(dtype, n, chw[0], chw[1], chw[2]);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < x.size(); i++) {
            x.set(i, (float) r.nextGaussian());
        }
        return x;
    }

    /** {@code n} labels in [0, 10). */
    public static int[] labels(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(10);
        }
        return y;
    }
}
