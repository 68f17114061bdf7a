package dev.pdecnn.backend.cuda;

import static dev.pdecnn.backend.cuda.Launcher.THREADS;
import static dev.pdecnn.backend.cuda.Launcher.ceilDiv;

/**
 * The launches of {@code batchnorm.cu}, per channel of NCHW tensors (n images, c channels, hw points per plane):
 * the statistics as split reductions (a grid of splits x c blocks of pd_block_sum partials, then one thread per
 * channel finalising them in split order), then one element-wise pass. The ReLU of the fused BN + ReLU is a flag
 * of {@code bn_apply}, and its backward a mask (the ReLU output y) inside the two backward passes.
 */
final class BatchNormKernels {
    /** Elements per thread of one split, at least: below that, fewer splits. */
    static final int ELEMS_PER_THREAD = 4;

    private final Launcher l;

    BatchNormKernels(Launcher launcher) {
        this.l = launcher;
    }

    /** Splits of each channel's reduction over its n hw elements: enough blocks for the GPU, not too short. */
    static int splits(int c, long perChannel) {
        return (int) Math.max(1, Math.min(Math.max(1, Launcher.TARGET_BLOCKS / c),
                ceilDiv(perChannel, (long) ELEMS_PER_THREAD * THREADS)));
    }

    /**
     * Training mode: batch statistics, running statistics updated, the saved mean and inverse standard deviation
     * written, y = (relu of) the normalised x.
     */
    void train(DevicePtr x, DevicePtr gamma, DevicePtr beta, DevicePtr runMean, DevicePtr runVar, double momentum,
               double eps, DevicePtr y, DevicePtr saveMean, DevicePtr saveInvStd, boolean relu, int n, int c, int hw,
               Scratch sc) {
        int splits = splits(c, (long) n * hw);
        DevicePtr part = sc.alloc(16L * c * splits, "partial sums"), ss = sc.elems(2L * c, "scale/shift");
        l.launch("bn_partial_sums", Dim3.of(splits, c, 1), Dim3.of(THREADS), 0, x, n, c, hw, splits, part);
        l.launch("bn_train_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, part, splits, x, c, hw,
                (double) n * hw, gamma, beta, runMean, runVar, momentum, eps, saveMean, saveInvStd, ss);
        l.launch1d("bn_apply", (long) n * c * hw, x, ss, y, n, c, hw, relu ? 1 : 0);
    }

    /** Evaluation mode: y = (relu of) x normalised with the running statistics. */
    void eval(DevicePtr x, DevicePtr gamma, DevicePtr beta, DevicePtr runMean, DevicePtr runVar, double eps,
              DevicePtr y, boolean relu, int n, int c, int hw, Scratch sc) {
        DevicePtr ss = sc.elems(2L * c, "scale/shift");
        l.launch("bn_eval_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, gamma, beta, runMean, runVar,
                c, eps, ss);
        l.launch1d("bn_apply", (long) n * c * hw, x, ss, y, n, c, hw, relu ? 1 : 0);
    }

    /**
     * The first part of the backward: gGamma and gBeta accumulated, and the per-channel coefficients (3 c elements,
     * from {@code sc}) that {@link #backwardApply} turns into gx. {@code y}: the fused ReLU's output, masking gy
     * (NULL for plain batch norm).
     */
    DevicePtr backwardCoefficients(DevicePtr x, DevicePtr gy, DevicePtr y, DevicePtr gamma, DevicePtr saveMean,
                                   DevicePtr saveInvStd, DevicePtr gGamma, DevicePtr gBeta, int n, int c, int hw,
                                   Scratch sc) {
        int splits = splits(c, (long) n * hw);
        DevicePtr part = sc.alloc(16L * c * splits, "partial sums"), coef = sc.elems(3L * c, "coefficients");
        l.launch("bn_backward_partial", Dim3.of(splits, c, 1), Dim3.of(THREADS), 0, x, gy, y, saveMean, n, c, hw,
                splits, part);
        l.launch("bn_backward_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, part, splits, c,
                (double) n * hw, gamma, saveMean, saveInvStd, gGamma, gBeta, coef);
        return coef;
    }

    /** gx (written) from the coefficients of {@link #backwardCoefficients}. */
    void backwardApply(DevicePtr x, DevicePtr gy, DevicePtr y, DevicePtr coef, DevicePtr gx, int n, int c, int hw) {
        l.launch1d("bn_backward_apply", (long) n * c * hw, x, gy, y, coef, gx, n, c, hw);
    }
}
