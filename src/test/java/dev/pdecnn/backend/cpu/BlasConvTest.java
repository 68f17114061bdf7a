package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static dev.pdecnn.backend.cpu.Float32AgainstFloat64Test.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The OpenBLAS convolution paths of the float32 backend ({@link BlasConv}: im2col tiles and the implicit-GEMM
 * path for stride-1 "same" convolutions) against the pure-Java GEMM path of the same backend and against the
 * float64 reference, on random inputs with odd sizes and several seeds; determinism of the BLAS path; and the
 * fallback switch, with oneDNN switched off. Tolerance as in {@link Float32AgainstFloat64Test} (float32 rounding only, in a different
 * summation order: sgemm blocks its sums, the Java GEMM adds the kernel inputs in order).
 */
class BlasConvTest {
    private final Backend f32 = new CpuBackend();
    private final Backend f64 = new ReferenceBackend();
    private final boolean before = Blas.enabled();
    /** These are the built-in kernels' tests: oneDNN, which would take most shapes, is off (OneDnnConvTest). */
    private final String convMode = OneDnn.setMode("builtin");

    @AfterEach
    void restore() {
        Blas.setEnabled(before);
        OneDnn.setMode(convMode);
    }

    /** y, gx, gw of one convolution (forward, then backward with gy) on the given backend. */
    private static Tensor[] run(Backend be, Tensor x, Tensor w, Tensor gy, ConvSpec s, int n, int co, int ho, int wo) {
        Tensor y = be.zeros(n, co, ho, wo), gx = be.zeros(x.shape()), gw = be.zeros(w.shape());
        be.conv2dForward(x, w, y, s);
        be.conv2dBackward(x, w, gy, gx, gw, s);
        return new Tensor[] {y, gx, gw};
    }

    @ParameterizedTest
    @CsvSource({
            // n, cin, cout, k, stride, pad, h, w
            "3, 16, 16, 3, 1, 1, 9, 11",   // implicit GEMM (forward, input gradient), odd plane
            "5, 17, 19, 3, 1, 1, 16, 17",  // implicit GEMM incl. weight gradient (>= 256 pixels), odd channels
            "2, 20, 16, 5, 1, 2, 8, 13",   // 5x5 same
            "3, 16, 32, 3, 1, 1, 8, 8",    // ResNet stage 3 shape, im2col weight gradient
            "9, 5, 7, 3, 1, 1, 9, 11",     // im2col tiles (few channels), more images than groups
            "3, 16, 32, 3, 2, 1, 16, 15",  // stride 2, odd width
            "2, 16, 32, 1, 2, 0, 8, 9",    // 1x1 stride 2 shortcut
            "2, 3, 16, 3, 1, 1, 13, 10",   // stem-like: 3 input channels
            "2, 24, 20, 3, 1, 0, 7, 9",    // no padding (not "same")
            "3, 64, 64, 3, 1, 1, 4, 4",    // stage 4 shape
    })
    void blasMatchesJavaAndFloat64(int n, int cin, int cout, int k, int stride, int pad, int h, int w) {
        assumeTrue(Blas.loaded(), "OpenBLAS natives not loaded on this platform");
        for (long seed = 1; seed <= 3; seed++) {
            SplittableRandom r = new SplittableRandom(seed * 7919 + n * 1000L + cin * 100L + cout + k + stride);
            ConvSpec s = new ConvSpec(stride, pad, 1);
            int ho = s.outSize(h, k), wo = s.outSize(w, k);
            Tensor x = random(r, 1, n, cin, h, w), wt = random(r, Math.sqrt(2.0 / (cin * k * k)), cout, cin, k, k);
            Tensor gy = random(r, 1, n, cout, ho, wo);
            Tensor[] ref = run(f64, x, wt, gy, s, n, cout, ho, wo);
            Blas.setEnabled(true);
            Tensor[] blas = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), s, n, cout, ho, wo);
            Blas.setEnabled(false);
            Tensor[] java = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), s, n, cout, ho, wo);
            String[] what = {"forward", "input gradient", "weight gradient"};
            for (int i = 0; i < 3; i++) {
                Float32AgainstFloat64Test.assertClose("blas " + what[i] + " seed " + seed, blas[i], ref[i]);
                Float32AgainstFloat64Test.assertClose("java " + what[i] + " seed " + seed, java[i], ref[i]);
                Float32AgainstFloat64Test.assertClose("blas vs java " + what[i] + " seed " + seed, blas[i],
                        java[i].to(DType.F64));
            }
        }
    }

    @Test
    void blasPathIsDeterministic() {
        assumeTrue(Blas.loaded(), "OpenBLAS natives not loaded on this platform");
        Blas.setEnabled(true);
        SplittableRandom r = new SplittableRandom(11);
        int n = 19;
        ConvSpec s = new ConvSpec(1, 1, 1);
        Tensor x = random(r, 1, n, 16, 16, 16).to(DType.F32), wt = random(r, 0.1, 16, 16, 3, 3).to(DType.F32);
        Tensor gy = random(r, 1, n, 16, 16, 16).to(DType.F32);
        Tensor[] first = run(f32, x, wt, gy, s, n, 16, 16, 16);
        for (int rep = 0; rep < 3; rep++) {
            Tensor[] again = run(f32, x, wt, gy, s, n, 16, 16, 16);
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(first[i].f32(), again[i].f32(), "run " + rep + " output " + i);
            }
        }
        // inside a parallel region the whole convolution runs on one thread: the same bits
        Tensor[][] single = new Tensor[1][];
        Parallel.forTasks(2, t -> {
            if (t == 0) {
                single[0] = run(f32, x, wt, gy, s, n, 16, 16, 16);
            }
        });
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(first[i].f32(), single[0][i].f32(), "single-threaded output " + i);
        }
    }

    @Test
    void fallbackSwitch() {
        // -Dpdecnn.cpu.gemm=java never loads the natives; setEnabled(false) sends every product to the Java GEMM
        assertFalse(Blas.load("java"));
        assertFalse(Blas.load("nonsense"));
        Blas.setEnabled(false);
        assertFalse(Blas.enabled());
        assertTrue(Blas.describe().contains("Java"));
        SplittableRandom r = new SplittableRandom(5);
        ConvSpec s = new ConvSpec(1, 1, 1);
        Tensor x = random(r, 1, 2, 16, 8, 8), wt = random(r, 0.1, 16, 16, 3, 3), gy = random(r, 1, 2, 16, 8, 8);
        Tensor[] ref = run(f64, x, wt, gy, s, 2, 16, 8, 8);
        Tensor[] java = run(f32, x.to(DType.F32), wt.to(DType.F32), gy.to(DType.F32), s, 2, 16, 8, 8);
        for (int i = 0; i < 3; i++) {
            Float32AgainstFloat64Test.assertClose("fallback output " + i, java[i], ref[i]);
        }
        Blas.setEnabled(true);
        assertTrue(Blas.enabled() == Blas.loaded());
    }
}
