package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.KernelRunner;
import dev.pdecnn.backend.cuda.Precision;
import org.junit.jupiter.api.Test;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The dense layer (tiled GEMM) and softmax cross-entropy against the double-precision CPU reference. */
class DenseLossKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    private final ReferenceBackend cpu = new ReferenceBackend();

    @ParameterizedTest
    @EnumSource(DType.class)
    void denseForwardBackward(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(21);
        // n, input shape (flattened), out: single elements, one partial tile, several tiles in every
        // dimension, and the networks' [N, 64, 1, 1] -> 10 and MNIST's [N, 8, 7, 7] -> 10
        int[][] cases = {{1, 1, 1}, {5, 7, 3}, {70, 130, 66}, {32, 64, 10}, {4, 8 * 7 * 7, 10}};
        for (int[] c : cases) {
            int n = c[0], in = c[1], out = c[2];
            for (boolean bias : new boolean[]{true, false}) {
                String at = n + "x" + in + "->" + out + (bias ? " " : " no bias ");
                Tensor[] x = Check.pair(r, n, in), w = Check.pair(r, out, in), b = bias ? Check.pair(r, out) : null;
                Tensor[] gy = Check.pair(r, n, out), gw = Check.pair(r, out, in), gb = Check.pair(r, out);
                Tensor y = Tensor.zeros(DType.F64, n, out), yG = Tensor.zeros(t, n, out);
                cpu.dense(x[1], w[1], Check.of(b, DType.F64), y);
                be.dense(Check.of(x, t), Check.of(w, t), Check.of(b, t), yG);
                Check.scaled(at + "y", y, yG, Check.tol(t));
                Tensor gx = Tensor.zeros(DType.F64, n, in), gwR = gw[1].copy(), gbR = gb[1].copy();
                cpu.denseBackward(x[1], w[1], gy[1], gx, gwR, gbR);
                Tensor gxG = Tensor.zeros(t, n, in), gwG = Check.of(gw, t).copy(), gbG = Check.of(gb, t).copy();
                be.denseBackward(Check.of(x, t), Check.of(w, t), Check.of(gy, t), gxG, gwG, gbG);
                Check.scaled(at + "gx", gx, gxG, Check.tol(t));
                Check.scaled(at + "gw (accumulated)", gwR, gwG, Check.tol(t));
                Check.scaled(at + "gb (accumulated)", gbR, gbG, Check.tol(t));
            }
        }
    }

    /**
     * The TF32 dense kernels ({@code --precision tf32}) against the double reference on TF32-rounded operands
     * (forward: x, w; data gradient: gy, w; filter gradient: gy, x), within {@link Check#TF32_TOL}; the bias is
     * added in float and the bias gradient (col_sum) stays fp32, so both take the unrounded values. Shapes as above,
     * plus M = 17 and 33 (just past the 16- and 32-row tiles) and a 64-row case over both 64-row tiles.
     */
    @Test
    void denseTf32() {
        Kernels.assumeTf32();
        KernelRunner rt = Kernels.runner();
        CudaBackend be = Kernels.track(new CudaBackend(rt, DType.F32,
                CudaBackend.defaultOptions(rt).withPrecision(Precision.TF32)));
        SplittableRandom r = new SplittableRandom(23);
        int[][] cases = {{1, 1, 1}, {5, 7, 3}, {70, 130, 66}, {32, 64, 10}, {4, 8 * 7 * 7, 10}, {17, 40, 33},
                {128, 64, 10}, {33, 300, 200}};
        for (int[] c : cases) {
            int n = c[0], in = c[1], out = c[2];
            String at = n + "x" + in + "->" + out + " tf32 ";
            Tensor[] x = Check.pair(r, n, in), w = Check.pair(r, out, in), b = Check.pair(r, out);
            Tensor[] gy = Check.pair(r, n, out), gw = Check.pair(r, out, in), gb = Check.pair(r, out);
            Tensor xr = Check.tf32(x[1]), wr = Check.tf32(w[1]), gyr = Check.tf32(gy[1]);
            Tensor y = Tensor.zeros(DType.F64, n, out), yG = Tensor.zeros(DType.F32, n, out);
            cpu.dense(xr, wr, b[1], y);
            be.dense(x[0], w[0], b[0], yG);
            Check.scaled(at + "y", y, yG, Check.TF32_TOL);
            Tensor gx = Tensor.zeros(DType.F64, n, in), gwR = gw[1].copy(), gbR = gb[1].copy();
            cpu.denseBackward(xr, wr, gyr, gx, gwR, null);
            cpu.denseBackward(xr, wr, gy[1], null, null, gbR);
            Tensor gxG = Tensor.zeros(DType.F32, n, in), gwG = gw[0].copy(), gbG = gb[0].copy();
            be.denseBackward(x[0], w[0], gy[0], gxG, gwG, gbG);
            Check.scaled(at + "gx", gx, gxG, Check.TF32_TOL);
            Check.scaled(at + "gw (accumulated)", gwR, gwG, Check.TF32_TOL);
            Check.scaled(at + "gb (accumulated)", gbR, gbG, Check.tol(DType.F32));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void softmaxCrossEntropy(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(22);
        for (int[] c : new int[][]{{1, 10}, {7, 10}, {300, 10}, {5, 3}}) {
            int n = c[0], k = c[1];
            Tensor[] logits = Check.pair(r, 3, 0, false, n, k);
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = r.nextInt(k);
            }
            Tensor g = Tensor.zeros(DType.F64, n, k), gG = Tensor.zeros(t, n, k);
            int[] pred = new int[n], predG = new int[n];
            double loss = cpu.softmaxCrossEntropy(logits[1], labels, g, pred);
            double lossG = be.softmaxCrossEntropy(Check.of(logits, t), labels, gG, predG);
            assertEquals(loss, lossG, 1e-12 * Math.abs(loss), "mean loss n=" + n);
            Check.scaled("gLogits n=" + n, g, gG, Check.tol(t));
            assertArrayEquals(pred, predG, "predictions n=" + n);
            // without gradient and predictions
            assertEquals(loss, be.softmaxCrossEntropy(Check.of(logits, t), labels, null, null), 1e-12 * Math.abs(loss));
        }
    }
}
