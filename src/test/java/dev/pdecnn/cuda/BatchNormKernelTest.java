package dev.pdecnn.cuda;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch norm training, inference and backward against the double-precision CPU reference: outputs, saved
 * statistics, running statistics and the accumulated gamma/beta gradients. Shapes include a single pixel per
 * channel, sizes that are not multiples of 256, and channels long enough to be split over several blocks.
 * The statistics are reductions (bound: {@link Check#scaled}, 1e-5 for float, 1e-12 for double, with the
 * per-channel quantities scaled by their RMS over channels).
 */
class BatchNormKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    private final ReferenceBackend cpu = new ReferenceBackend();

    @ParameterizedTest
    @EnumSource(DType.class)
    void trainEvalBackward(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(11);
        for (int[] sh : new int[][]{{3, 5, 1, 1}, {2, 3, 5, 7}, {4, 16, 8, 8}, {8, 4, 32, 32}}) {
            int c = sh[1];
            Tensor[] x = Check.pair(r, 2, 0.7, false, sh), gy = Check.pair(r, sh);
            Tensor[] gamma = Check.pair(r, 0.5, 1, false, c), beta = Check.pair(r, c);
            Tensor[] rm = Check.pair(r, c), rv = Check.pair(r, 0.5, 0.5, true, c);
            Tensor[] gg = Check.pair(r, c), gb = Check.pair(r, c);
            double tol = Check.tol(t);
            String at = java.util.Arrays.toString(sh) + " ";

            Tensor y = Tensor.zeros(DType.F64, sh), sm = Tensor.zeros(DType.F64, c), si = Tensor.zeros(DType.F64, c);
            Tensor rmRef = rm[1].copy(), rvRef = rv[1].copy();
            cpu.batchNormTrain(x[1], gamma[1], beta[1], rmRef, rvRef, 0.01, 1e-3, y, sm, si);
            Tensor yG = Tensor.zeros(t, sh), smG = Tensor.zeros(t, c), siG = Tensor.zeros(t, c);
            Tensor rmG = Check.of(rm, t).copy(), rvG = Check.of(rv, t).copy();
            be.batchNormTrain(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), rmG, rvG, 0.01, 1e-3, yG, smG, siG);
            Check.scaled(at + "train y", y, yG, tol);
            Check.scaled(at + "saved mean", sm, smG, tol);
            Check.scaled(at + "saved inv std", si, siG, tol);
            Check.scaled(at + "running mean", rmRef, rmG, tol);
            Check.scaled(at + "running var", rvRef, rvG, tol);

            Tensor ye = Tensor.zeros(DType.F64, sh), yeG = Tensor.zeros(t, sh);
            cpu.batchNormEval(x[1], gamma[1], beta[1], rm[1], rv[1], 1e-3, ye);
            be.batchNormEval(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), Check.of(rm, t), Check.of(rv, t),
                    1e-3, yeG);
            Check.scaled(at + "eval y", ye, yeG, tol);

            // backward from the reference's own saved statistics, so both sides see the same inputs
            Tensor smIn = Check.of(new Tensor[]{sm.to(DType.F32), sm}, t), siIn = Check.of(new Tensor[]{si.to(DType.F32), si}, t);
            Tensor smRef = t == DType.F32 ? smIn.to(DType.F64) : sm, siRef = t == DType.F32 ? siIn.to(DType.F64) : si;
            Tensor gx = Tensor.zeros(DType.F64, sh), ggRef = gg[1].copy(), gbRef = gb[1].copy();
            cpu.batchNormBackward(x[1], gy[1], gamma[1], smRef, siRef, gx, ggRef, gbRef);
            Tensor gxG = Tensor.zeros(t, sh), ggG = Check.of(gg, t).copy(), gbG = Check.of(gb, t).copy();
            be.batchNormBackward(Check.of(x, t), Check.of(gy, t), Check.of(gamma, t), smIn, siIn, gxG, ggG, gbG);
            Check.scaled(at + "gx", gx, gxG, tol);
            Check.scaled(at + "gGamma (accumulated)", ggRef, ggG, tol);
            Check.scaled(at + "gBeta (accumulated)", gbRef, gbG, tol);

            // gx not requested: parameter gradients only
            Tensor ggOnly = Check.of(gg, t).copy(), gbOnly = Check.of(gb, t).copy();
            be.batchNormBackward(Check.of(x, t), Check.of(gy, t), Check.of(gamma, t), smIn, siIn, null, ggOnly, gbOnly);
            Check.scaled(at + "gGamma without gx", ggRef, ggOnly, tol);
        }
    }

    /**
     * The fused BN + ReLU kernels (bn_apply with its ReLU, the ReLU backward masked inside the BN backward) against
     * the CPU reference's fused operations, and bit for bit against the GPU's own unfused composition (batch norm,
     * then relu / relu backward, then batch norm backward): the fusion changes the passes, not a single value.
     * Inputs are centred so that about half the outputs are clipped; one shape has a single pixel per channel.
     */
    @ParameterizedTest
    @EnumSource(DType.class)
    void fusedWithRelu(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(23);
        for (int[] sh : new int[][]{{3, 5, 1, 1}, {2, 3, 5, 7}, {8, 4, 32, 32}}) {
            int c = sh[1];
            Tensor[] x = Check.pair(r, sh), gy = Check.pair(r, sh);
            Tensor[] gamma = Check.pair(r, 0.5, 1, false, c), beta = Check.pair(r, c);
            Tensor[] rm = Check.pair(r, c), rv = Check.pair(r, 0.5, 0.5, true, c);
            double tol = Check.tol(t);
            String at = java.util.Arrays.toString(sh) + " ";

            Tensor y = Tensor.zeros(DType.F64, sh), sm = Tensor.zeros(DType.F64, c), si = Tensor.zeros(DType.F64, c);
            cpu.batchNormReluTrain(x[1], gamma[1], beta[1], rm[1].copy(), rv[1].copy(), 0.01, 1e-3, y, sm, si);
            Tensor yG = Tensor.zeros(t, sh), smG = Tensor.zeros(t, c), siG = Tensor.zeros(t, c);
            be.batchNormReluTrain(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), Check.of(rm, t).copy(),
                    Check.of(rv, t).copy(), 0.01, 1e-3, yG, smG, siG);
            Check.scaled(at + "fused train y", y, yG, tol);
            Tensor tU = Tensor.zeros(t, sh), yU = Tensor.zeros(t, sh);
            be.batchNormTrain(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), Check.of(rm, t).copy(),
                    Check.of(rv, t).copy(), 0.01, 1e-3, tU, Tensor.zeros(t, c), Tensor.zeros(t, c));
            be.relu(tU, yU);
            assertArrayEquals(yU.download().to(DType.F64).f64(), yG.download().to(DType.F64).f64(), at + "fused = unfused, train");
            long clipped = java.util.Arrays.stream(yG.to(DType.F64).f64()).filter(v -> v == 0).count();
            assertTrue(clipped > 0 && clipped < yG.size(), at + "some clipped");

            Tensor ye = Tensor.zeros(DType.F64, sh), yeG = Tensor.zeros(t, sh), teU = Tensor.zeros(t, sh),
                    yeU = Tensor.zeros(t, sh);
            cpu.batchNormReluEval(x[1], gamma[1], beta[1], rm[1], rv[1], 1e-3, ye);
            be.batchNormReluEval(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), Check.of(rm, t),
                    Check.of(rv, t), 1e-3, yeG);
            Check.scaled(at + "fused eval y", ye, yeG, tol);
            be.batchNormEval(Check.of(x, t), Check.of(gamma, t), Check.of(beta, t), Check.of(rm, t), Check.of(rv, t),
                    1e-3, teU);
            be.relu(teU, yeU);
            assertArrayEquals(yeU.download().to(DType.F64).f64(), yeG.download().to(DType.F64).f64(), at + "fused = unfused, eval");

            // backward: the ReLU output of the GPU's own forward on both sides, so the masks agree exactly
            Tensor gx = Tensor.zeros(DType.F64, sh), gg = Tensor.zeros(DType.F64, c), gb = Tensor.zeros(DType.F64, c);
            Tensor smIn = t == DType.F32 ? smG.download() : sm, siIn = t == DType.F32 ? siG.download() : si;
            cpu.batchNormReluBackward(x[1], yG.to(DType.F64), gy[1], gamma[1], smIn.to(DType.F64), siIn.to(DType.F64),
                    gx, gg, gb);
            Tensor gxG = Tensor.zeros(t, sh), ggG = Tensor.zeros(t, c), gbG = Tensor.zeros(t, c);
            be.batchNormReluBackward(Check.of(x, t), yG, Check.of(gy, t), Check.of(gamma, t), smIn.to(t), siIn.to(t),
                    gxG, ggG, gbG);
            Check.scaled(at + "fused gx", gx, gxG, tol);
            Check.scaled(at + "fused gGamma", gg, ggG, tol);
            Check.scaled(at + "fused gBeta", gb, gbG, tol);
            Tensor gm = Tensor.zeros(t, sh), gxU = Tensor.zeros(t, sh), ggU = Tensor.zeros(t, c), gbU = Tensor.zeros(t, c);
            be.reluBackward(yG, Check.of(gy, t), gm);
            be.batchNormBackward(Check.of(x, t), gm, Check.of(gamma, t), smIn.to(t), siIn.to(t), gxU, ggU, gbU);
            assertArrayEquals(gxU.download().to(DType.F64).f64(), gxG.download().to(DType.F64).f64(), at + "fused = unfused, gx");
            assertArrayEquals(ggU.download().to(DType.F64).f64(), ggG.download().to(DType.F64).f64(), at + "fused = unfused, gGamma");
            assertArrayEquals(gbU.download().to(DType.F64).f64(), gbG.download().to(DType.F64).f64(), at + "fused = unfused, gBeta");
        }
    }
}
