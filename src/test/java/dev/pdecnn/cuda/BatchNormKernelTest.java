package dev.pdecnn.cuda;

import dev.pdecnn.backend.cpu.CpuBackendF64;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

/**
 * Batch norm training, inference and backward against the double-precision CPU reference: outputs, saved
 * statistics, running statistics and the accumulated gamma/beta gradients. Shapes include a single pixel per
 * channel, sizes that are not multiples of 256, and channels long enough to be split over several blocks.
 * The statistics are reductions (bound: {@link Check#scaled}, 1e-5 for float, 1e-12 for double, with the
 * per-channel quantities scaled by their RMS over channels).
 */
class BatchNormKernelTest {
    private final CpuBackendF64 cpu = new CpuBackendF64();

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
}
