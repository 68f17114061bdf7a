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
    /** The GEMMs run on the TF32 tensor-core kernels ({@link Tf32Gemm}; float32 only). */
    private final boolean tf32;

    DenseLossKernels(Launcher launcher, ElementwiseKernels ew, boolean tf32) {
        this.l = launcher;
        this.ew = ew;
        this.tf32 = tf32;
    }

    /** The GEMM {@code op} over a rows x cols product: TF32 on the tile {@link Tf32Gemm#choose} picks, or fp32. */
    private void gemm(String op, int rows, int cols, Object... args) {
        if (tf32) {
            Tf32Gemm.Tile t = Tf32Gemm.choose(rows, cols, 1);
            l.launch(t.kernel(op), t.grid(rows, cols, 1), Tf32Gemm.block(), 0, args);
        } else {
            l.launch(op, Gemm.grid(rows, cols, 1), Gemm.block(), 0, args);
        }
    }

    /** y [n, out] = x [n, in] w^T + b (written). */
    void forward(DevicePtr x, DevicePtr w, DevicePtr b, DevicePtr y, int n, int in, int out) {
        gemm("dense_forward", n, out, x, w, b, y, n, in, out);
    }

    /** gx [n, in] = gy w (written). */
    void backwardData(DevicePtr gy, DevicePtr w, DevicePtr gx, int n, int in, int out) {
        gemm("dense_backward_data", n, in, gy, w, gx, n, in, out);
    }

    /** gw [out, in] += gy^T x. */
    void backwardFilter(DevicePtr gy, DevicePtr x, DevicePtr gw, int n, int in, int out) {
        gemm("dense_backward_filter", out, in, gy, x, gw, n, in, out);
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
