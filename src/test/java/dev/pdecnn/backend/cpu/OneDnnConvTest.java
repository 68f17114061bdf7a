package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static dev.pdecnn.backend.cpu.Float32AgainstFloat64Test.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The oneDNN convolutions of the float32 backend ({@link OneDnnConv}) against the float64 reference and against
 * the built-in kernels, on random inputs with odd sizes, several seeds and every kind the models use (full,
 * strided, 1x1, grouped, depthwise, no padding); operands that are views at an offset; the accumulation of the
 * weight gradient and the optional gradients; plans of several batch sizes sharing the native buffers (a small
 * shape after a large one and back); determinism; the thread count oneDNN's OpenMP team gets; and the per-shape
 * choice in auto mode.
 *
 * <p>Tolerance as in {@link Float32AgainstFloat64Test}: float32 rounding of sums of at most a few hundred
 * products, in a different order (oneDNN blocks its sums over channels), is far below it, and a wrong index or
 * a missed tap is far above it.
 */
class OneDnnConvTest {
    private final Backend f32 = new CpuBackend();
    private final Backend f64 = new ReferenceBackend();
    private final String before = OneDnn.mode();

    @AfterEach
    void restore() {
        OneDnn.setMode(before);
    }

    /** y, gx and gw (gw starts at gw0, as gradients accumulate) of one convolution on the given backend. */
    private static Tensor[] run(Backend be, Tensor x, Tensor w, Tensor gy, Tensor gw0, ConvSpec s, int[] yShape) {
        Tensor y = be.zeros(yShape), gx = be.zeros(x.shape()), gw = gw0.copy().to(be.dtype());
        be.conv2dForward(x, w, y, s);
        be.conv2dBackward(x, w, gy, gx, gw, s);
        return new Tensor[] {y, gx, gw};
    }

    @ParameterizedTest
    @CsvSource({
            // n, cin, cout, k, stride, pad, groups, h, w
            "3, 16, 16, 3, 1, 1, 1, 9, 11",    // odd plane
            "5, 17, 19, 3, 1, 1, 1, 16, 17",   // channels not a multiple of 8 or 16
            "2, 20, 16, 5, 1, 2, 1, 8, 13",    // 5x5 same
            "3, 16, 32, 3, 2, 1, 1, 16, 15",   // stride 2, odd width
            "2, 16, 32, 1, 2, 0, 1, 8, 9",     // 1x1 stride 2 shortcut
            "2, 3, 16, 3, 1, 1, 1, 13, 10",    // stem: 3 input channels
            "2, 1, 8, 3, 1, 1, 1, 28, 28",     // MNIST first layer: 1 input channel
            "2, 24, 20, 3, 1, 0, 1, 7, 9",     // no padding
            "3, 64, 64, 3, 1, 1, 1, 4, 4",     // 4x4 stage
            "3, 16, 16, 3, 1, 1, 16, 10, 9",   // depthwise
            "2, 32, 32, 3, 2, 1, 32, 9, 11",   // depthwise stride 2
            "2, 12, 18, 3, 1, 1, 3, 7, 8",     // grouped, 4 in and 6 out per group
            "4, 7, 5, 3, 1, 1, 1, 5, 6",       // tiny odd everything
    })
    void matchesFloat64AndBuiltin(int n, int cin, int cout, int k, int stride, int pad, int groups, int h, int w) {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        for (long seed = 1; seed <= 3; seed++) {
            SplittableRandom r = new SplittableRandom(seed * 7919 + n * 1000L + cin * 100L + cout + k + stride + groups);
            ConvSpec s = new ConvSpec(stride, pad, groups);
            int[] yShape = {n, cout, s.outSize(h, k), s.outSize(w, k)};
            Tensor x = random(r, 1, n, cin, h, w), wt = random(r, Math.sqrt(2.0 / (cin / groups * k * k)), cout,
                    cin / groups, k, k);
            Tensor gy = random(r, 1, yShape), gw0 = random(r, 0.5, wt.shape());
            Tensor[] ref = run(f64, x, wt, gy, gw0, s, yShape);
            OneDnn.setMode("onednn");
            Tensor[] dnn = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), gw0, s, yShape);
            OneDnn.setMode("builtin");
            Tensor[] own = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), gw0, s, yShape);
            String[] what = {"forward", "input gradient", "weight gradient (accumulated)"};
            for (int i = 0; i < 3; i++) {
                Float32AgainstFloat64Test.assertClose("onednn " + what[i] + " seed " + seed, dnn[i], ref[i]);
                Float32AgainstFloat64Test.assertClose("onednn vs builtin " + what[i] + " seed " + seed, dnn[i],
                        own[i].to(DType.F64));
            }
        }
    }

    /** Operands that are windows of larger arrays; the gradients asked for alone; nothing outside is touched. */
    @Test
    void viewsAndOptionalGradients() {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        OneDnn.setMode("onednn");
        SplittableRandom r = new SplittableRandom(3);
        int n = 3, c = 16, co = 24, h = 7, w = 9;
        ConvSpec s = new ConvSpec(1, 1, 1);
        Tensor x = random(r, 1, n, c, h, w), wt = random(r, 0.1, co, c, 3, 3), gy = random(r, 1, n, co, h, w);
        Tensor[] ref = run(f64, x, wt, gy, Tensor.zeros(DType.F64, wt.shape()), s, new int[] {n, co, h, w});
        Tensor xv = inView(x, 5), wv = inView(wt, 13), gyv = inView(gy, 7);
        Tensor y = inView(Tensor.zeros(DType.F64, n, co, h, w), 11), gx = inView(Tensor.zeros(DType.F64, x.shape()), 3);
        Tensor gw = inView(Tensor.zeros(DType.F64, wt.shape()), 9);
        float[] yBase = y.base().f32().clone(), gwBase = gw.base().f32().clone();
        f32.conv2dForward(xv, wv, y, s);
        f32.conv2dBackward(xv, wv, gyv, gx, null, s);
        assertArrayEquals(gwBase, gw.base().f32(), "gw untouched when not asked for");
        f32.conv2dBackward(xv, wv, gyv, null, gw, s);
        Float32AgainstFloat64Test.assertClose("forward in a view", y.copy().to(DType.F64), ref[0]);
        Float32AgainstFloat64Test.assertClose("input gradient in a view", gx.copy().to(DType.F64), ref[1]);
        Float32AgainstFloat64Test.assertClose("weight gradient in a view", gw.copy().to(DType.F64), ref[2]);
        for (int i = 0; i < 11; i++) {
            assertEquals(yBase[i], y.base().f32()[i], "before the view of y");
        }
        for (int i = 11 + y.size(); i < yBase.length; i++) {
            assertEquals(yBase[i], y.base().f32()[i], "after the view of y");
        }
    }

    /** A float32 view of t's values starting at the given offset of a larger random array. */
    private static Tensor inView(Tensor t, int offset) {
        SplittableRandom r = new SplittableRandom(offset);
        float[] base = new float[offset + t.size() + 17];
        for (int i = 0; i < base.length; i++) {
            base[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < t.size(); i++) {
            base[offset + i] = (float) t.get(i);
        }
        return Tensor.view(Tensor.of(base, base.length), offset, t.shape());
    }

    /** Plans of other batch sizes share the native buffers; a large shape grows them, a small one reuses them. */
    @Test
    void plansOfManySizesShareBuffersAndRepeatBitForBit() {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        OneDnn.setMode("onednn");
        ConvSpec s = new ConvSpec(1, 1, 1);
        int[] batches = {2, 9, 1, 9, 2};
        Tensor[][] first = new Tensor[10][];
        for (int round = 0; round < 2; round++) {
            for (int b : batches) {
                SplittableRandom r = new SplittableRandom(b);
                Tensor x = random(r, 1, b, 16, 12, 10), wt = random(r, 0.1, 32, 16, 3, 3);
                Tensor gy = random(r, 1, b, 32, 12, 10), gw0 = Tensor.zeros(DType.F64, wt.shape());
                Tensor[] got = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), gw0, s,
                        new int[] {b, 32, 12, 10});
                if (first[b] == null) {
                    first[b] = got;
                    Tensor[] ref = run(f64, x, wt, gy, gw0, s, new int[] {b, 32, 12, 10});
                    for (int i = 0; i < 3; i++) {
                        Float32AgainstFloat64Test.assertClose("batch " + b + " output " + i, got[i], ref[i]);
                    }
                } else {
                    for (int i = 0; i < 3; i++) {
                        assertArrayEquals(first[b][i].f32(), got[i].f32(), "batch " + b + " output " + i + " again");
                    }
                }
            }
        }
    }

    /**
     * oneDNN runs single-threaded on every thread that calls it (the batch is split over our pool, which
     * pdecnn.cpu.threads sizes): its OpenMP team never adds threads.
     */
    @Test
    void openMpTeamFollowsTheThreadSetting() throws Exception {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        // int omp_get_max_threads(void), called through a JavaCPP function-pointer type returning int (the
        // test class path has the OpenBLAS bindings with LAPACK)
        Loader.load(openblas.class);
        Pointer fn = Loader.addressof("omp_get_max_threads");
        openblas.LAPACK_C_SELECT1 maxThreads = new openblas.LAPACK_C_SELECT1(new LongPointer(1).put(fn.address()));
        int[] seen = new int[2];
        Runnable probe = () -> {
            OneDnn.useThreads();
            seen[0] = maxThreads.call(null);
        };
        probe.run();
        assertEquals(1, seen[0], "team size on the calling thread");
        int[] fresh = new int[1];
        Thread t = new Thread(() -> {
            fresh[0] = maxThreads.call(null);
            OneDnn.useThreads();
            seen[1] = maxThreads.call(null);
        });
        t.start();
        t.join();
        if (System.getenv("OMP_NUM_THREADS") == null) {
            // (shows the probe reads the real value: a new thread starts from OpenMP's default, every core)
            assertEquals(Runtime.getRuntime().availableProcessors(), fresh[0], "OpenMP's default on a new thread");
        }
        assertEquals(1, seen[1], "team size on another thread");
    }

    /** The auto rule of {@link ConvPath}, shape by shape as the models have them. */
    @ParameterizedTest
    @CsvSource({
            // c, h, w, co, k, stride, groups, path
            "1, 28, 28, 8, 3, 1, 1, builtin",     // MNIST: few output channels
            "8, 28, 28, 8, 3, 1, 1, builtin",
            "1, 28, 28, 1, 3, 1, 1, builtin",
            "16, 32, 32, 8, 3, 1, 1, builtin",
            "8, 16, 16, 8, 3, 1, 8, builtin",     // depthwise with few channels
            "3, 32, 32, 16, 3, 1, 1, onednn",     // the CIFAR stem: 16 output channels
            "16, 32, 32, 16, 3, 1, 1, onednn",
            "16, 32, 32, 32, 3, 2, 1, onednn",
            "64, 4, 4, 64, 3, 1, 1, onednn",
            "16, 32, 32, 32, 1, 2, 1, onednn",    // 1x1 shortcut
            "16, 32, 32, 16, 3, 1, 16, onednn",   // depthwise, 16 channels
            "64, 8, 8, 64, 3, 1, 64, onednn",
            "32, 8, 8, 64, 3, 1, 2, onednn",      // grouped, 32 output channels per group
            "64, 8, 8, 16, 3, 1, 8, builtin",     // grouped, 2 output channels per group
    })
    void autoRule(int c, int h, int w, int co, int k, int stride, int groups, String path) {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        OneDnn.setMode("auto");
        Tensor x = Tensor.zeros(DType.F32, 2, c, h, w), wt = Tensor.zeros(DType.F32, co, c / groups, k, k);
        assertEquals(path, ConvOps.path(x, wt, new ConvSpec(stride, k / 2, groups)));
        OneDnn.setMode("builtin");
        assertEquals("builtin", ConvOps.path(x, wt, new ConvSpec(stride, k / 2, groups)));
        OneDnn.setMode("onednn");
        assertEquals("onednn", ConvOps.path(x, wt, new ConvSpec(stride, k / 2, groups)));
    }

    @Test
    void describesItself() {
        assumeTrue(OneDnn.available(), "oneDNN natives not loaded on this platform");
        OneDnn.setMode("auto");
        assertTrue(CpuBackend.describeConvolutions().startsWith("oneDNN 3."), CpuBackend.describeConvolutions());
        OneDnn.setMode("builtin");
        assertTrue(CpuBackend.describeConvolutions().startsWith("OpenBLAS") || CpuBackend.describeConvolutions()
                .startsWith("Java"), CpuBackend.describeConvolutions());
        assertTrue(OneDnn.describe().startsWith("oneDNN 3."), OneDnn.describe());
        assertNotEquals("", OneDnnConv.implementation(new OneDnnConv.Shape(2, 16, 32, 32, 16, 3, 3, 1, 1, 1)));
    }
}
