package dev.pdecnn.backend.cuda;

/**
 * The launches of {@code dense.cu} (the fully connected layer as GEMMs on the tiles of {@code gemm.cuh}; the bias
 * gradient is {@code col_sum} of elementwise.cu) and {@code loss.cu} (softmax cross-entropy, one thread per
 * sample).
 */
final class DenseLossKernels {
    /** Threads per block of softmax_xent (a grid-stride kernel: any size works; few samples, so small blocks). */
    static final int XENT_THREADS = 128;

    private final Launcher l;
    private final ElementwiseKernels ew;

    DenseLossKernels(Launcher launcher, ElementwiseKernels ew) {
        this.l = launcher;
        this.ew = ew;
    }

    /** y [n, out] = x [n, in] w^T + b (written). */
    void forward(DevicePtr x, DevicePtr w, DevicePtr b, DevicePtr y, int n, int in, int out) {
        l.launch("dense_forward", Gemm.grid(n, out, 1), Gemm.block(), 0, x, w, b, y, n, in, out);
    }

    /** gx [n, in] = gy w (written). */
    void backwardData(DevicePtr gy, DevicePtr w, DevicePtr gx, int n, int in, int out) {
        l.launch("dense_backward_data", Gemm.grid(n, in, 1), Gemm.block(), 0, gy, w, gx, n, in, out);
    }

    /** gw [out, in] += gy^T x. */
    void backwardFilter(DevicePtr gy, DevicePtr x, DevicePtr gw, int n, int in, int out) {
        l.launch("dense_backward_filter", Gemm.grid(out, in, 1), Gemm.block(), 0, gy, x, gw, n, in, out);
    }

    /** gb [out] += the column sums of gy [n, out]. */
    void backwardBias(DevicePtr gy, DevicePtr gb, int n, int out) {
        ew.colSum(gy, n, out, gb);
    }

    /**
     * Per-sample losses (double) of n samples of k logits, the logits' gradient (written; null skips it) and the
     * predictions (null skips them); labels must lie in [0, k).
     */
    void softmaxCrossEntropy(DevicePtr logits, DevicePtr labels, int n, int k, DevicePtr gLogits, DevicePtr pred,
                             DevicePtr loss) {
        l.launch("softmax_xent", Dim3.of(Launcher.ceilDiv(n, XENT_THREADS)), Dim3.of(XENT_THREADS), 0, logits, labels, n,
                k, gLogits, pred, loss);
    }

    /**
     * The loss launch, then the per-sample losses (and predictions, when {@code predictions} is non-null) copied
     * to the host through {@code rec}: at once, or when a recorded step has run. The supplier sums the losses in
     * sample order (the mean loss) and fills {@code predictions}; call it only after the step ran.
     */
    java.util.function.DoubleSupplier softmaxCrossEntropy(DevicePtr logits, DevicePtr labels, int n, int k,
                                                          DevicePtr gLogits, DevicePtr pred, DevicePtr loss,
                                                          StepRecorder rec, int[] predictions) {
        softmaxCrossEntropy(logits, labels, n, k, gLogits, pred, loss);
        double[] per = new double[n];
        int[] p = predictions == null ? null : new int[n];
        rec.toHostLater(loss, per);
        if (p != null) {
            rec.toHostLater(pred, p);
        }
        return () -> {
            double total = 0;
            for (double v : per) {
                total += v;
            }
            if (p != null) {
                System.arraycopy(p, 0, predictions, 0, n);
            }
            return total / n;
        };
    }
}
