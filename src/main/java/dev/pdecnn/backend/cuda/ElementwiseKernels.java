package dev.pdecnn.backend.cuda;

import static dev.pdecnn.backend.cuda.Launcher.THREADS;

/**
 * The launches of {@code elementwise.cu}: ReLU and its backward, the element-wise sums, average pooling, the SGD
 * update, the sum of squares, and the two helpers of split reductions ({@code add_partials}, {@code col_sum}).
 * All are grid-stride kernels of {@link Launcher#THREADS} threads per block, except {@code sum_squares}, whose
 * blocks each reduce a stretch with pd_block_sum into one partial.
 */
final class ElementwiseKernels {
    private final Launcher l;

    ElementwiseKernels(Launcher launcher) {
        this.l = launcher;
    }

    void relu(DevicePtr x, DevicePtr y, int n) {
        l.launch1d("relu", n, x, y, n);
    }

    /** gx = gy where y > 0, else 0. */
    void reluBackward(DevicePtr y, DevicePtr gy, DevicePtr gx, int n) {
        l.launch1d("relu_backward", n, y, gy, gx, n);
    }

    /** y = a + b; y may alias a or b. */
    void add(DevicePtr a, DevicePtr b, DevicePtr y, int n) {
        l.launch1d("add", n, a, b, y, n);
    }

    /** y = relu(a + b); y may alias a or b. */
    void addRelu(DevicePtr a, DevicePtr b, DevicePtr y, int n) {
        l.launch1d("add_relu", n, a, b, y, n);
    }

    /** k x k average pooling of {@code planes} planes of h x w into y (h / k x w / k). */
    void avgPool(DevicePtr x, DevicePtr y, int planes, int h, int w, int k) {
        l.launch1d("avg_pool", (long) planes * (h / k) * (w / k), x, y, planes, h, w, k);
    }

    /** gx (planes of h x w) from gy (h / k x w / k). */
    void avgPoolBackward(DevicePtr gy, DevicePtr gx, int planes, int h, int w, int k) {
        l.launch1d("avg_pool_backward", (long) planes * h * w, gy, gx, planes, h, w, k);
    }

    /** One SGD step with momentum and weight decay on n weights: updates w and the velocity. */
    void sgd(DevicePtr w, DevicePtr g, DevicePtr velocity, int n, double lr, double momentum, double wd) {
        l.launch1d("sgd", n, w, g, velocity, n, lr, momentum, wd);
    }

    /** Blocks of {@link #sumSquares}: one double partial each. */
    static int sumSquaresBlocks(int n) {
        return Math.max(1, Math.min(Launcher.MAX_BLOCKS, Launcher.ceilDiv(n, THREADS)));
    }

    /** The sum of squares of n elements, in double: per-block partials, summed on the host in block order. */
    double sumSquares(DevicePtr x, int n, Scratch sc) {
        int blocks = sumSquaresBlocks(n);
        DevicePtr part = sc.alloc(8L * blocks, "partial sums");
        l.launch("sum_squares", Dim3.of(blocks), Dim3.of(THREADS), 0, x, n, part);
        double[] p = new double[blocks];
        l.runner().toHost(part, p);
        double s = 0;
        for (double v : p) {
            s += v;
        }
        return s;
    }

    /** out[i] += the sum over the splits of partial[s * n + i], in split order. */
    void addPartials(DevicePtr partial, int splits, int n, DevicePtr out) {
        l.launch1d("add_partials", n, partial, splits, n, out);
    }

    /** out[j] += the sum over the rows of m [rows, cols], column j. */
    void colSum(DevicePtr m, int rows, int cols, DevicePtr out) {
        l.launch1d("col_sum", cols, m, rows, cols, out);
    }
}
