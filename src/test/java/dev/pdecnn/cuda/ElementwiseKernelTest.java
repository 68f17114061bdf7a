package dev.pdecnn.cuda;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * ReLU, add, average pooling, SGD and the sum of squares against the double-precision CPU reference, on
 * sizes that are not multiples of the 256-thread block and one large enough to make the grid-stride loops
 * wrap (more elements than 4096 blocks x 256 threads is too slow to emulate; 3 blocks of a capped grid do it).
 */
class ElementwiseKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    private final ReferenceBackend cpu = new ReferenceBackend();

    @ParameterizedTest
    @EnumSource(DType.class)
    void reluAndAdd(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(1);
        for (int[] sh : new int[][]{{1, 1, 1, 1}, {3, 5, 7, 11}, {2, 16, 17, 9}}) {
            Tensor[] x = Check.pair(r, sh), gy = Check.pair(r, sh), b = Check.pair(r, sh);
            Tensor ref = Tensor.zeros(DType.F64, sh), got = Tensor.zeros(t, sh);
            cpu.relu(x[1], ref);
            be.relu(Check.of(x, t), got);
            Check.elementwise("relu", ref, got, 0);
            Tensor refG = Tensor.zeros(DType.F64, sh), gotG = Tensor.zeros(t, sh);
            cpu.reluBackward(ref, gy[1], refG);
            be.reluBackward(got, Check.of(gy, t), gotG);
            Check.elementwise("relu backward", refG, gotG, 0);
            Tensor refA = Tensor.zeros(DType.F64, sh), gotA = Tensor.zeros(t, sh);
            cpu.add(x[1], b[1], refA);
            be.add(Check.of(x, t), Check.of(b, t), gotA);
            Check.elementwise("add", refA, gotA, Check.tol(t));
            // the fused residual output, and bit for bit the GPU's own add then relu; a is left as it was
            Tensor refR = Tensor.zeros(DType.F64, sh), gotR = Tensor.zeros(t, sh), gotU = Tensor.zeros(t, sh);
            Tensor a = Check.of(x, t).copy();
            cpu.addRelu(x[1], b[1], refR);
            be.addRelu(a, Check.of(b, t), gotR);
            Check.elementwise("add + relu", refR, gotR, Check.tol(t));
            be.relu(gotA, gotU);
            assertArrayEquals(gotU.download().to(DType.F64).f64(), gotR.download().to(DType.F64).f64(), "fused = add then relu");
            assertArrayEquals(Check.of(x, t).to(DType.F64).f64(), a.download().to(DType.F64).f64(), "a unchanged");
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void averagePool(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(2);
        for (int[] c : new int[][]{{2, 3, 8, 8, 4}, {3, 5, 28, 28, 4}, {1, 2, 6, 9, 3}, {2, 2, 5, 5, 1}}) {
            int[] sh = {c[0], c[1], c[2], c[3]}, osh = {c[0], c[1], c[2] / c[4], c[3] / c[4]};
            Tensor[] x = Check.pair(r, sh), gy = Check.pair(r, osh);
            Tensor ref = Tensor.zeros(DType.F64, osh), got = Tensor.zeros(t, osh);
            cpu.avgPool(x[1], c[4], ref);
            be.avgPool(Check.of(x, t), c[4], got);
            Check.scaled("avg pool", ref, got, Check.tol(t));
            Tensor refG = Tensor.zeros(DType.F64, sh), gotG = Tensor.zeros(t, sh);
            cpu.avgPoolBackward(gy[1], c[4], refG);
            be.avgPoolBackward(Check.of(gy, t), c[4], gotG);
            Check.elementwise("avg pool backward", refG, gotG, Check.tol(t));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void sgdMomentumWithWeightDecay(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(3);
        for (int n : new int[]{1, 10, 3 * 256 + 5, 40_000}) {
            Tensor[] w = Check.pair(r, n), g = Check.pair(r, n), vel = Check.pair(r, 0.1, 0, false, n);
            Tensor rw = w[1].copy(), rv = vel[1].copy(), gw = Check.of(w, t).copy(), gv = Check.of(vel, t).copy();
            for (int step = 0; step < 3; step++) { // three steps: the velocity carries over
                cpu.sgdStep(rw, g[1], rv, 0.01 * (step + 1), 0.9, 5e-4);
                be.sgdStep(gw, Check.of(g, t), gv, 0.01 * (step + 1), 0.9, 5e-4);
            }
            Check.scaled("sgd velocity n=" + n, rv, gv, Check.tol(t));
            Check.scaled("sgd weights n=" + n, rw, gw, Check.tol(t));
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void sumOfSquares(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(4);
        for (int n : new int[]{1, 255, 257, 5000, 1_200_000}) {
            Tensor[] w = Check.pair(r, n);
            double ref = cpu.sumSquares(w[1]), got = be.sumSquares(Check.of(w, t));
            // Both are double sums of the same n non-negative terms in different orders (the reference
            // sequential, the kernel a tree): each is within n eps of the exact sum, so they agree to 2 n eps.
            double bound = 2 * n * Math.ulp(1.0) * ref;
            assertEquals(ref, got, bound, "sum of squares n=" + n);
        }
    }
}
