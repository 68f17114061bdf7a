package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.GlobalLayer;
import dev.pdecnn.nn.GlobalSpec;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The fast float32 backend ({@link CpuBackend}: tiled, threaded, vectorized, float accumulators) against the plain
 * float64 {@link ReferenceBackend} (a different algorithm, written as loops from the equations, and itself checked
 * against finite differences in dev.pdecnn.nn) on identical inputs with odd shapes and several seeds, plus
 * run-to-run determinism of the float32 path.
 *
 * <p>Tolerance of the sums, stencils and chains: |f32 - f64| <= 1e-4 * (|f64| + rms(f64)) per element. Every input is exactly representable in
 * both precisions, so the difference is float32 rounding only: unit roundoff 6e-8 per operation, growing
 * with the length of a sum roughly like its square root for these random data (a conv output sums up to 150
 * products, a weight gradient up to a few thousand per image group before the double-precision combination)
 * and a few-fold through a handful of layers (conv, batch norm, K = 5 PDE steps, pooling, dense), which keeps
 * the relative error near 1e-6..1e-5. The rms term is the natural scale for entries that cancel to near zero,
 * where a relative error is meaningless. A real defect (a wrong tap, a lost remainder row or column, a
 * boundary error) shows up at the 1e-2..1 level.
 *
 * <p>Element-wise operations whose float32 result is one rounding of the exact value of float inputs (relu, its
 * backward, add, add + relu, pooling of a double sum, the scaled pooling gradient) are held to half an ulp:
 * |f32 - f64| <= 2^-24 |f64| ({@link #ONE_ROUNDING}); SGD, a few float operations per element, to 1e-6.
 */
class Float32AgainstFloat64Test {
    private static final double TOL = 1e-4;
    /** Unit roundoff of float32: the error of one correctly rounded operation, relative to its result. */
    private static final double ONE_ROUNDING = 0x1p-24;
    /** Seeds every shape runs with. */
    private static final long[] SEEDS = {1, 2, 3};
    private final Backend f32 = new CpuBackend();
    private final Backend f64 = new ReferenceBackend();

    /** A pair of tensors holding the same values, one per precision. */
    private record Pair(Tensor a, Tensor b) {
        static Pair of(Tensor t64) {
            return new Pair(t64.to(DType.F32), t64);
        }

        static Pair zeros(int... shape) {
            return new Pair(Tensor.zeros(DType.F32, shape), Tensor.zeros(DType.F64, shape));
        }
    }

    /** Random values rounded to float, so both precisions start from exactly the same numbers. */
    /** Float64 tensor of float32-representable N(0, scale^2) values (shared by the convolution tests). */
    static Tensor random(SplittableRandom r, double scale, int... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, (float) (scale * r.nextGaussian()));
        }
        return t;
    }

    private static Tensor positive(SplittableRandom r, int... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, (float) (0.2 + Math.abs(r.nextGaussian())));
        }
        return t;
    }

    static void assertClose(String what, Tensor got32, Tensor ref64) {
        assertClose(what, got32, ref64, TOL);
    }

    /** |got - ref| <= tol (|ref| + rms(ref)) per element. */
    static void assertClose(String what, Tensor got32, Tensor ref64, double tol) {
        assertEquals(ref64.size(), got32.size(), what + " size");
        double ss = 0;
        for (int i = 0; i < ref64.size(); i++) {
            ss += ref64.get(i) * ref64.get(i);
        }
        double rms = Math.sqrt(ss / Math.max(1, ref64.size()));
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < ref64.size(); i++) {
            double a = got32.get(i), b = ref64.get(i);
            if (!(Math.abs(a - b) <= tol * (Math.abs(b) + rms))) {
                bad.add("[" + i + "] f32 " + a + " f64 " + b);
            }
        }
        if (!bad.isEmpty()) {
            fail(what + ": " + bad.size() + " of " + ref64.size() + " elements differ (rms " + rms + "), first: "
                    + String.join("; ", bad.subList(0, Math.min(4, bad.size()))));
        }
    }

    @ParameterizedTest
    @CsvSource({
            // n, cin, cout, k, stride, pad, groups, h, w
            "3, 5, 7, 3, 1, 1, 1, 9, 11",    // 3x3 same, odd sizes (remainder rows, lanes, columns)
            "2, 16, 13, 3, 1, 1, 1, 8, 9",   // 144 kernel inputs: transposed weight-gradient path
            "2, 8, 8, 3, 1, 1, 1, 28, 28",   // the MNIST block conv (four-row GEMM blocks)
            "2, 1, 8, 3, 1, 1, 1, 13, 10",   // one input channel (element-wise weight gradient)
            "2, 4, 6, 3, 2, 1, 1, 9, 7",     // stride 2
            "3, 16, 32, 3, 2, 1, 1, 16, 16", // ResNet down-sampling conv
            "2, 6, 5, 1, 1, 0, 1, 7, 5",     // 1x1
            "2, 16, 32, 1, 2, 0, 1, 8, 8",   // 1x1 stride 2 shortcut
            "3, 7, 7, 3, 1, 1, 7, 10, 13",   // depthwise 3x3
            "2, 6, 4, 3, 1, 1, 2, 5, 6",     // grouped
            "2, 32, 16, 3, 1, 1, 2, 6, 7",   // grouped with 144 kernel inputs per group (transposed path)
            "2, 4, 8, 3, 1, 1, 4, 6, 6",     // depthwise with channel multiplier 2
            "2, 3, 4, 5, 1, 2, 1, 6, 7",     // 5x5
            "2, 3, 2, 3, 1, 0, 1, 6, 5",     // no padding
    })
    void convolution(int n, int cin, int cout, int k, int stride, int pad, int groups, int h, int w) {
        for (long seed : SEEDS) {
            convolution(seed, n, cin, cout, k, stride, pad, groups, h, w);
        }
    }

    private void convolution(long seed, int n, int cin, int cout, int k, int stride, int pad, int groups, int h,
                             int w) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + n * 1000L + cin * 100L + cout * 10L + k + stride
                + groups);
        ConvSpec s = new ConvSpec(stride, pad, groups);
        int ho = s.outSize(h, k), wo = s.outSize(w, k);
        Pair x = Pair.of(random(r, 1, n, cin, h, w));
        Pair wt = Pair.of(random(r, Math.sqrt(2.0 / (cin / groups * k * k)), cout, cin / groups, k, k));
        Pair gy = Pair.of(random(r, 1, n, cout, ho, wo));
        Pair y = Pair.zeros(n, cout, ho, wo), gx = Pair.zeros(n, cin, h, w), gw = Pair.zeros(cout, cin / groups, k, k);
        f32.conv2dForward(x.a, wt.a, y.a, s);
        f64.conv2dForward(x.b, wt.b, y.b, s);
        assertClose("conv forward", y.a, y.b);
        f32.conv2dBackward(x.a, wt.a, gy.a, gx.a, gw.a, s);
        f64.conv2dBackward(x.b, wt.b, gy.b, gx.b, gw.b, s);
        assertClose("conv input gradient", gx.a, gx.b);
        assertClose("conv weight gradient", gw.a, gw.b);
    }

    @ParameterizedTest
    @CsvSource({
            // n, c, h, w, K, velocity, diffusivity (learned | constant | zero)
            "2, 3, 9, 11, 5, true, learned",
            "2, 3, 32, 32, 2, true, learned",  // two row strips per plane
            "3, 4, 5, 40, 3, true, learned",   // small planes stacked into blocks, strips across plane borders
            "2, 3, 28, 28, 5, true, constant",
            "3, 2, 8, 5, 3, false, learned",
            "1, 4, 5, 17, 1, true, zero",
            "2, 2, 3, 3, 2, false, constant",
    })
    void pde(int n, int c, int h, int w, int k, boolean velocity, String diffusivity) {
        for (long seed : SEEDS) {
            pde(seed, n, c, h, w, k, velocity, diffusivity);
        }
    }

    private void pde(long seed, int n, int c, int h, int w, int k, boolean velocity, String diffusivity) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + n * 100L + h * 10L + w + k);
        PdeSpec s = new PdeSpec(k, 0.2, 1.0, 1.0);
        Pair f = Pair.of(random(r, 1, n, c, h, w)), hh = Pair.of(random(r, 1, n, c, h, w));
        Pair u = velocity ? Pair.of(random(r, 0.5, n, c, h, w)) : null;
        Pair v = velocity ? Pair.of(random(r, 0.5, n, c, h, w)) : null;
        boolean learned = diffusivity.equals("learned");
        Pair dx = learned ? Pair.of(positive(r, n, c, h, w)) : null;
        Pair dy = learned ? Pair.of(positive(r, n, c, h, w)) : null;
        double dConst = diffusivity.equals("constant") ? 1.0 : 0.0;
        Pair out = Pair.zeros(n, c, h, w), gOut = Pair.of(random(r, 1, n, c, h, w));
        f32.pdeForward(f.a, hh.a, u == null ? null : u.a, v == null ? null : v.a, dx == null ? null : dx.a,
                dy == null ? null : dy.a, dConst, s, out.a);
        f64.pdeForward(f.b, hh.b, u == null ? null : u.b, v == null ? null : v.b, dx == null ? null : dx.b,
                dy == null ? null : dy.b, dConst, s, out.b);
        assertClose("pde forward", out.a, out.b);
        Pair gf = Pair.zeros(n, c, h, w), gh = Pair.zeros(n, c, h, w);
        Pair gu = velocity ? Pair.zeros(n, c, h, w) : null, gv = velocity ? Pair.zeros(n, c, h, w) : null;
        Pair gdx = learned ? Pair.zeros(n, c, h, w) : null, gdy = learned ? Pair.zeros(n, c, h, w) : null;
        f32.pdeBackward(f.a, hh.a, u == null ? null : u.a, v == null ? null : v.a, dx == null ? null : dx.a,
                dy == null ? null : dy.a, dConst, s, gOut.a, gf.a, gh.a, gu == null ? null : gu.a,
                gv == null ? null : gv.a, gdx == null ? null : gdx.a, gdy == null ? null : gdy.a);
        f64.pdeBackward(f.b, hh.b, u == null ? null : u.b, v == null ? null : v.b, dx == null ? null : dx.b,
                dy == null ? null : dy.b, dConst, s, gOut.b, gf.b, gh.b, gu == null ? null : gu.b,
                gv == null ? null : gv.b, gdx == null ? null : gdx.b, gdy == null ? null : gdy.b);
        assertClose("pde grad f", gf.a, gf.b);
        assertClose("pde grad h", gh.a, gh.b);
        if (velocity) {
            assertClose("pde grad u", gu.a, gu.b);
            assertClose("pde grad v", gv.a, gv.b);
        }
        if (learned) {
            assertClose("pde grad Dx", gdx.a, gdx.b);
            assertClose("pde grad Dy", gdy.a, gdy.b);
        }
    }

    @ParameterizedTest
    @CsvSource({"2, 3, 7, 9", "1, 2, 2, 2", "3, 1, 28, 28"})
    void peronaMalikAndBatchNorm(int n, int c, int h, int w) {
        for (long seed : SEEDS) {
            peronaMalikAndBatchNorm(seed, n, c, h, w);
        }
    }

    private void peronaMalikAndBatchNorm(long seed, int n, int c, int h, int w) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + n * 7L + h);
        Pair x = Pair.of(random(r, 1, n, c, h, w));
        Pair dx = Pair.zeros(n, c, h, w), dy = Pair.zeros(n, c, h, w);
        f32.peronaMalik(x.a, 2.0, dx.a, dy.a);
        f64.peronaMalik(x.b, 2.0, dx.b, dy.b);
        assertClose("perona-malik Dx", dx.a, dx.b);
        assertClose("perona-malik Dy", dy.a, dy.b);
        Pair g1 = Pair.of(random(r, 1, n, c, h, w)), g2 = Pair.of(random(r, 1, n, c, h, w));
        Pair gh = Pair.of(random(r, 1, n, c, h, w));
        f32.peronaMalikBackward(x.a, 2.0, g1.a, g2.a, gh.a);
        f64.peronaMalikBackward(x.b, 2.0, g1.b, g2.b, gh.b);
        assertClose("perona-malik backward", gh.a, gh.b);

        // batch norm on data with a large common offset (the one-pass statistics must not cancel)
        Tensor shifted = random(r, 1, n, c, h, w);
        for (int i = 0; i < shifted.size(); i++) {
            shifted.set(i, (float) (shifted.get(i) + 40));
        }
        Pair xs = Pair.of(shifted), gamma = Pair.of(positive(r, c)), beta = Pair.of(random(r, 1, c));
        Pair rm = Pair.zeros(c), rv = Pair.zeros(c), sm = Pair.zeros(c), si = Pair.zeros(c), y = Pair.zeros(n, c, h, w);
        f32.batchNormTrain(xs.a, gamma.a, beta.a, rm.a, rv.a, 0.1, 1e-3, y.a, sm.a, si.a);
        f64.batchNormTrain(xs.b, gamma.b, beta.b, rm.b, rv.b, 0.1, 1e-3, y.b, sm.b, si.b);
        assertClose("batch norm forward", y.a, y.b);
        assertClose("batch norm running variance", rv.a, rv.b);
        Pair gy = Pair.of(random(r, 1, n, c, h, w)), gx = Pair.zeros(n, c, h, w);
        Pair gg = Pair.zeros(c), gb = Pair.zeros(c);
        f32.batchNormBackward(xs.a, gy.a, gamma.a, sm.a, si.a, gx.a, gg.a, gb.a);
        f64.batchNormBackward(xs.b, gy.b, gamma.b, sm.b, si.b, gx.b, gg.b, gb.b);
        assertClose("batch norm input gradient", gx.a, gx.b);
        assertClose("batch norm gamma gradient", gg.a, gg.b);
        assertClose("batch norm beta gradient", gb.a, gb.b);
        assertClose("batch norm saved mean", sm.a, sm.b);
        assertClose("batch norm saved inverse deviation", si.a, si.b);
        assertClose("batch norm running mean", rm.a, rm.b);
        Pair ye = Pair.zeros(n, c, h, w);
        f32.batchNormEval(xs.a, gamma.a, beta.a, rm.a, rv.a, 1e-3, ye.a);
        f64.batchNormEval(xs.b, gamma.b, beta.b, rm.b, rv.b, 1e-3, ye.b);
        assertClose("batch norm evaluation", ye.a, ye.b);
    }

    @ParameterizedTest
    @CsvSource({"2, 3, 6, 10, 2", "3, 5, 9, 3, 3", "1, 1, 4, 4, 4", "5, 7, 2, 6, 1"})
    void elementwisePoolingDenseLossAndSgd(int n, int c, int h, int w, int k) {
        for (long seed : SEEDS) {
            SplittableRandom r = new SplittableRandom(seed * 7919 + n * 31L + c * 7L + h + w);
            Pair a = Pair.of(random(r, 1, n, c, h, w)), b = Pair.of(random(r, 1, n, c, h, w));
            Pair y = Pair.zeros(n, c, h, w);
            f32.relu(a.a, y.a);
            f64.relu(a.b, y.b);
            assertClose("relu", y.a, y.b, 0);
            f32.reluBackward(a.a, b.a, y.a);
            f64.reluBackward(a.b, b.b, y.b);
            assertClose("relu backward", y.a, y.b, 0);
            f32.add(a.a, b.a, y.a);
            f64.add(a.b, b.b, y.b);
            assertRelative("add", y.a, y.b, ONE_ROUNDING);
            f32.addRelu(a.a, b.a, y.a);
            f64.addRelu(a.b.copy(), b.b, y.b);
            assertRelative("add + relu", y.a, y.b, ONE_ROUNDING);
            Pair p = Pair.zeros(n, c, h / k, w / k), gx = Pair.zeros(n, c, h / k * k, w / k * k);
            Pair xk = Pair.of(random(r, 1, n, c, h / k * k, w / k * k)), gp = Pair.of(random(r, 1, n, c, h / k, w / k));
            f32.avgPool(xk.a, k, p.a);
            f64.avgPool(xk.b, k, p.b);
            assertRelative("average pooling", p.a, p.b, ONE_ROUNDING);
            f32.avgPoolBackward(gp.a, k, gx.a);
            f64.avgPoolBackward(gp.b, k, gx.b);
            // gy * float(1/k^2): the rounded scale and the product, two roundings
            assertRelative("average pooling backward", gx.a, gx.b, 2 * ONE_ROUNDING);

            int in = c * h * w, out = 2 * k + 1;
            Pair dw = Pair.of(random(r, Math.sqrt(1.0 / in), out, in)), db = Pair.of(random(r, 1, out));
            Pair d = Pair.zeros(n, out);
            f32.dense(a.a, dw.a, db.a, d.a);
            f64.dense(a.b, dw.b, db.b, d.b);
            assertClose("dense", d.a, d.b);
            Pair gd = Pair.of(random(r, 1, n, out)), gxd = Pair.zeros(n, c, h, w);
            Pair gwd = Pair.of(random(r, 1, out, in)), gbd = Pair.of(random(r, 1, out));
            f32.denseBackward(a.a, dw.a, gd.a, gxd.a, gwd.a, gbd.a);
            f64.denseBackward(a.b, dw.b, gd.b, gxd.b, gwd.b, gbd.b);
            assertClose("dense input gradient", gxd.a, gxd.b);
            assertClose("dense weight gradient (accumulated)", gwd.a, gwd.b);
            assertClose("dense bias gradient (accumulated)", gbd.a, gbd.b);

            int[] labels = new int[n], p32 = new int[n], p64 = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = r.nextInt(out);
            }
            Pair gl = Pair.zeros(n, out), logits = Pair.of(random(r, 2, n, out));
            double l32 = f32.softmaxCrossEntropy(logits.a, labels, gl.a, p32);
            double l64 = f64.softmaxCrossEntropy(logits.b, labels, gl.b, p64);
            // the same (float) logits, and both compute the loss in double: equal up to double rounding
            assertEquals(l64, l32, 1e-12 * Math.max(1, Math.abs(l64)), "mean loss");
            assertClose("softmax cross-entropy gradient", gl.a, gl.b);
            assertArrayEquals(p64, p32, "argmax");

            Pair sw = Pair.of(random(r, 1, c, h, w)), sg = Pair.of(random(r, 1, c, h, w));
            Pair sv = Pair.of(random(r, 0.1, c, h, w));
            for (int step = 0; step < 3; step++) {
                f32.sgdStep(sw.a, sg.a, sv.a, 0.05, 0.9, 5e-4);
                f64.sgdStep(sw.b, sg.b, sv.b, 0.05, 0.9, 5e-4);
            }
            assertClose("sgd weights", sw.a, sw.b, 1e-6);
            assertClose("sgd velocity", sv.a, sv.b, 1e-6);
            // both sum in double; the float32 weights differ from the float64 ones by the sgd error above
            assertEquals(f64.sumSquares(sw.b), f32.sumSquares(sw.a), 4e-6 * f64.sumSquares(sw.b), "sum of squares");
        }
    }

    /** |got - ref| <= tol |ref| per element (no rms term: for one rounding of each result). */
    private static void assertRelative(String what, Tensor got32, Tensor ref64, double tol) {
        assertEquals(ref64.size(), got32.size(), what + " size");
        for (int i = 0; i < ref64.size(); i++) {
            double a = got32.get(i), b = ref64.get(i);
            if (!(Math.abs(a - b) <= tol * Math.abs(b))) {
                fail(what + "[" + i + "]: f32 " + a + " f64 " + b);
            }
        }
    }

    /** Copies the float32 network's parameters (exactly representable) into the float64 one. */
    private static void copyParams(Network from32, Network to64) {
        Map<String, Param> a = from32.namedParams(), b = to64.namedParams();
        for (Map.Entry<String, Param> e : a.entrySet()) {
            e.getValue().value.copyInto(b.get(e.getKey()).value);
        }
    }

    private static void randomizeBatchNorm(Network net, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (Param p : net.namedParams().values()) {
            if (p.trainable && p.value.rank() == 1) {
                for (int i = 0; i < p.size(); i++) {
                    double z = r.nextGaussian();
                    p.value.set(i, (float) (p.name.equals("weight") ? 1 + 0.2 * z : 0.2 * z));
                }
            }
        }
    }

    private static RunConfig mnist(String diffusivity, int channels) {
        RunConfig cfg = new RunConfig();
        cfg.set("model", "pde", "test");
        cfg.set("diffusivity", diffusivity, "test");
        cfg.set("channels", channels, "test");
        cfg.set("seed", 5L, "test");
        return cfg;
    }

    /** Logits, input gradient and every parameter gradient of one forward + backward pass. */
    private static List<Tensor> step(Network net, Tensor x, int[] labels) {
        Backend be = net.backend();
        net.zeroGrad();
        Tensor logits = net.forward(x);
        Tensor g = logits.zerosLike();
        be.softmaxCrossEntropy(logits, labels, g, null);
        List<Tensor> out = new ArrayList<>();
        out.add(logits);
        out.add(net.backward(g));
        for (Param p : net.trainableParams()) {
            out.add(p.grad.copy());
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({"constant, 8", "perona_malik, 8", "constant, 1"})
    void mnistPdeNetwork(String diffusivity, int channels) {
        Network n32 = Models.build(mnist(diffusivity, channels), f32);
        Network n64 = Models.build(mnist(diffusivity, channels), f64);
        randomizeBatchNorm(n32, 9);
        copyParams(n32, n64);
        SplittableRandom r = new SplittableRandom(21);
        Tensor x = random(r, 1, 6, 1, 28, 28);
        int[] labels = {3, 1, 4, 1, 5, 9};
        List<Tensor> a = step(n32, x.to(DType.F32), labels), b = step(n64, x, labels);
        List<Param> params = n64.trainableParams();
        for (int i = 0; i < a.size(); i++) {
            String what = i == 0 ? "logits" : i == 1 ? "input gradient" : "grad " + params.get(i - 2).name;
            assertClose(what, a.get(i), b.get(i));
        }
    }

    @Test
    void globalLayer() {
        GlobalLayer l32 = new GlobalLayer(f32, 5, GlobalSpec.defaults(3));
        GlobalLayer l64 = new GlobalLayer(f64, 5, GlobalSpec.defaults(3));
        SplittableRandom r = new SplittableRandom(3);
        Map<String, Param> p32 = l32.namedParams(), p64 = l64.namedParams();
        for (Map.Entry<String, Param> e : p32.entrySet()) {
            Tensor t = e.getValue().value;
            if (e.getValue().trainable) {
                for (int i = 0; i < t.size(); i++) {
                    t.set(i, (float) (t.rank() == 4 ? 0.4 * r.nextGaussian() : 1 + 0.2 * r.nextGaussian()));
                }
            }
            t.copyInto(p64.get(e.getKey()).value);
        }
        Tensor x = random(r, 1, 3, 5, 11, 9), gy = random(r, 1, 3, 5, 11, 9);
        assertClose("global forward", l32.forward(x.to(DType.F32)), l64.forward(x));
        assertClose("global input gradient", l32.backward(gy.to(DType.F32)), l64.backward(gy));
        for (Map.Entry<String, Param> e : p64.entrySet()) {
            if (e.getValue().trainable) {
                assertClose("global grad " + e.getKey(), p32.get(e.getKey()).grad, e.getValue().grad);
            }
        }
    }

    private static float[] flat(List<Tensor> ts) {
        int n = 0;
        for (Tensor t : ts) {
            n += t.size();
        }
        float[] out = new float[n];
        int o = 0;
        for (Tensor t : ts) {
            System.arraycopy(t.f32(), 0, out, o, t.size());
            o += t.size();
        }
        return out;
    }

    @Test
    void float32IsDeterministic() {
        // several image groups and tiles, so threads really share the work; repeated runs must agree bit for
        // bit, and so must a run on a single thread (partial sums are grouped by image, never by thread)
        SplittableRandom r = new SplittableRandom(4);
        Tensor x = random(r, 1, 40, 1, 28, 28).to(DType.F32);
        int[] labels = new int[40];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = r.nextInt(10);
        }
        float[] first = null;
        for (int run = 0; run < 4; run++) {
            Network net = Models.build(mnist("perona_malik", 8), f32);
            float[] got = flat(step(net, x, labels));
            if (first == null) {
                first = got;
            } else {
                assertArrayEquals(first, got, "run " + run + " differs from run 0");
            }
        }
        // inside a parallel region every kernel runs on one thread: the result must not depend on that either
        float[][] single = new float[1][];
        Parallel.forTasks(2, t -> {
            if (t == 0) {
                single[0] = flat(step(Models.build(mnist("perona_malik", 8), f32), x, labels));
            }
        });
        assertArrayEquals(first, single[0], "single-threaded run differs from the parallel runs");
        Tensor xc = random(r, 1, 12, 3, 32, 32).to(DType.F32);
        int[] lc = new int[12];
        float[] firstC = null;
        for (int run = 0; run < 3; run++) {
            RunConfig cfg = new RunConfig();
            cfg.set("model", "resnet32_global", "test");
            cfg.set("dataset", "cifar10", "test");
            cfg.set("widths", List.of(8, 8, 16, 16), "test");
            float[] got = flat(step(Models.build(cfg, f32), xc, lc));
            if (firstC == null) {
                firstC = got;
            } else {
                assertArrayEquals(firstC, got, "resnet run " + run + " differs from run 0");
            }
        }
    }
}
