// Element-wise kernels, average pooling, the SGD update and the sum of squares. All grid-stride, one element
// per thread and iteration (launch: 256 threads, up to 4096 blocks). n elements of T = sizeof(element):
//  relu:               y = max(x, 0)                                   reads n T, writes n T
//  relu_backward:      gx = gy where y > 0, else 0                     reads 2n T, writes n T
//  add:                y = a + b (y may alias a or b)                  reads 2n T, writes n T
//  add_relu:           y = max(a + b, 0), a residual block's output    reads 2n T, writes n T
//  avg_pool:           y = mean of each non-overlapping k x k window  reads n T, writes n/k^2 T (n = input size)
//  avg_pool_backward:  gx = gy(window) / k^2                           reads n/k^2 T (cached), writes n T
//  sgd:                vel = m vel - lr (g + wd w); w += vel           reads 3n T, writes 2n T
//                      (Keras form, decay as a gradient term; m, lr, wd rounded to T first, as on the CPU)
//  sum_squares:        partial[block] = sum of x^2 over the block's elements, in double; the caller adds
//                      the gridDim.x partials in order (deterministic). Reads n T, writes gridDim.x doubles.
#include "common.cuh"

#define RELU_PARAMS(T) const T *__restrict__ x, T *__restrict__ y, int n
template <typename T>
__device__ void relu_impl(RELU_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        y[i] = x[i] > 0 ? x[i] : (T)0;
    }
}
PDECNN_KERNELS(relu, RELU_PARAMS, (x, y, n))

#define RELU_BWD_PARAMS(T) const T *__restrict__ y, const T *__restrict__ gy, T *__restrict__ gx, int n
template <typename T>
__device__ void relu_backward_impl(RELU_BWD_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        gx[i] = y[i] > 0 ? gy[i] : (T)0;
    }
}
PDECNN_KERNELS(relu_backward, RELU_BWD_PARAMS, (y, gy, gx, n))

#define ADD_PARAMS(T) const T *a, const T *b, T *y, int n
template <typename T>
__device__ void add_impl(ADD_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        y[i] = a[i] + b[i];
    }
}
PDECNN_KERNELS(add, ADD_PARAMS, (a, b, y, n))

template <typename T>
__device__ void add_relu_impl(ADD_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        const T v = a[i] + b[i];
        y[i] = v > 0 ? v : (T)0;
    }
}
PDECNN_KERNELS(add_relu, ADD_PARAMS, (a, b, y, n))

#define POOL_PARAMS(T) const T *__restrict__ x, T *__restrict__ y, int planes, int H, int W, int k
/** One thread per output; the window sum in double, scaled by (T)(1 / k^2) as the CPU does. */
template <typename T>
__device__ void avg_pool_impl(POOL_PARAMS(T)) {
    const int ho = H / k, wo = W / k;
    const T scale = (T)(1.0 / (k * k));
    PDECNN_FOR(o, planes * ho * wo) {
        const int p = o / (ho * wo);
        const int r = o - p * ho * wo;
        const int oi = r / wo, oj = r - (r / wo) * wo;
        double s = 0;
        for (int a = 0; a < k; a++) {
            const T* row = x + ((size_t)p * H + oi * k + a) * W + oj * k;
            for (int b = 0; b < k; b++) {
                s += row[b];
            }
        }
        y[o] = (T)(s * (double)scale);
    }
}
PDECNN_KERNELS(avg_pool, POOL_PARAMS, (x, y, planes, H, W, k))

#define POOL_BWD_PARAMS(T) const T *__restrict__ gy, T *__restrict__ gx, int planes, int H, int W, int k
template <typename T>
__device__ void avg_pool_backward_impl(POOL_BWD_PARAMS(T)) {
    const int ho = H / k, wo = W / k;
    const T scale = (T)(1.0 / (k * k));
    PDECNN_FOR(i, planes * H * W) {
        const int p = i / (H * W);
        const int r = i - p * H * W;
        const int row = r / W, col = r - (r / W) * W;
        gx[i] = gy[((size_t)p * ho + row / k) * wo + col / k] * scale;
    }
}
PDECNN_KERNELS(avg_pool_backward, POOL_BWD_PARAMS, (gy, gx, planes, H, W, k))

#define SGD_PARAMS(T) \
    T *__restrict__ w, const T *__restrict__ g, T *__restrict__ vel, int n, double lr, double momentum, double wd
template <typename T>
__device__ void sgd_impl(SGD_PARAMS(T)) {
    const T lrr = (T)lr, mom = (T)momentum, wdd = (T)wd;
    PDECNN_FOR(i, n) {
        const T v = mom * vel[i] - lrr * (g[i] + wdd * w[i]);
        vel[i] = v;
        w[i] = w[i] + v;
    }
}
PDECNN_KERNELS(sgd, SGD_PARAMS, (w, g, vel, n, lr, momentum, wd))

#define SUMSQ_PARAMS(T) const T *__restrict__ x, int n, double *__restrict__ partial
/** Launch with blockDim.x a power of two (256). */
template <typename T>
__device__ void sum_squares_impl(SUMSQ_PARAMS(T)) {
    __shared__ double scratch[PDECNN_REDUCE_MAX_THREADS];
    double s = 0;
    PDECNN_FOR(i, n) {
        const double v = x[i];
        s += v * v;
    }
    s = pd_block_sum(s, scratch);
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = s;
    }
}
PDECNN_KERNELS(sum_squares, SUMSQ_PARAMS, (x, n, partial))

#define ADD_PARTIALS_PARAMS(T) const T *__restrict__ partial, int splits, int n, T *__restrict__ out
/** out[i] += sum over s of partial[s * n + i], in split order, in double (completes a split reduction). */
template <typename T>
__device__ void add_partials_impl(ADD_PARTIALS_PARAMS(T)) {
    PDECNN_FOR(i, n) {
        double s = 0;
        for (int k = 0; k < splits; k++) {
            s += partial[(size_t)k * n + i];
        }
        out[i] = (T)(out[i] + s);
    }
}
PDECNN_KERNELS(add_partials, ADD_PARTIALS_PARAMS, (partial, splits, n, out))

#define COL_SUM_PARAMS(T) const T *__restrict__ m, int rows, int cols, T *__restrict__ out
/** out[c] += sum over rows r of m[r * cols + c], in row order, in double (the dense bias gradient). */
template <typename T>
__device__ void col_sum_impl(COL_SUM_PARAMS(T)) {
    PDECNN_FOR(c, cols) {
        double s = 0;
        for (int r = 0; r < rows; r++) {
            s += m[(size_t)r * cols + c];
        }
        out[c] = out[c] + (T)s;
    }
}
PDECNN_KERNELS(col_sum, COL_SUM_PARAMS, (m, rows, cols, out))
