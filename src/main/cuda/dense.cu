// Dense (fully connected) layer as GEMMs on the tile core of gemm.cuh; x is [n, in], w is [out, in].
//   dense_forward:          y[i, o] = sum_j x[i, j] w[o, j] + b[o]        grid (ceil(out/64), ceil(n/64))
//   dense_backward_data:    gx[i, j] = sum_o gy[i, o] w[o, j]             grid (ceil(in/64), ceil(n/64))
//   dense_backward_filter:  gw[o, j] += sum_i gy[i, o] x[i, j]            grid (ceil(in/64), ceil(out/64))
//   (the bias gradient gb[o] += sum_i gy[i, o] is col_sum in elementwise.cu)
// 256 threads per block. Global traffic per product of an M x K by a K x N matrix: about M K N / 32 element
// reads (each staged element serves a 64-wide tile) plus M N writes (reads too, for the accumulating one).
#include "gemm.cuh"

#define DENSE_FWD_PARAMS(T) \
    const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ b, T *__restrict__ y, int n, int in, int out
template <typename T>
__device__ void dense_forward_impl(DENSE_FWD_PARAMS(T)) {
    gemm_tile<T>(
        n, out, blockIdx.y * GEMM_BM, blockIdx.x * GEMM_BN, 0, in,
        [&](int m, int k) { return x[(size_t)m * in + k]; }, [&](int k, int o) { return w[(size_t)o * in + k]; },
        [&](int m, int o, T v) { y[(size_t)m * out + o] = b == nullptr ? v : v + b[o]; });
}
PDECNN_KERNELS_BOUNDED(dense_forward, GEMM_THREADS, DENSE_FWD_PARAMS, (x, w, b, y, n, in, out))

#define DENSE_BD_PARAMS(T) \
    const T *__restrict__ gy, const T *__restrict__ w, T *__restrict__ gx, int n, int in, int out
template <typename T>
__device__ void dense_backward_data_impl(DENSE_BD_PARAMS(T)) {
    gemm_tile<T>(
        n, in, blockIdx.y * GEMM_BM, blockIdx.x * GEMM_BN, 0, out,
        [&](int m, int k) { return gy[(size_t)m * out + k]; }, [&](int k, int j) { return w[(size_t)k * in + j]; },
        [&](int m, int j, T v) { gx[(size_t)m * in + j] = v; });
}
PDECNN_KERNELS_BOUNDED(dense_backward_data, GEMM_THREADS, DENSE_BD_PARAMS, (gy, w, gx, n, in, out))

#define DENSE_BF_PARAMS(T) \
    const T *__restrict__ gy, const T *__restrict__ x, T *__restrict__ gw, int n, int in, int out
template <typename T>
__device__ void dense_backward_filter_impl(DENSE_BF_PARAMS(T)) {
    gemm_tile<T>(
        out, in, blockIdx.y * GEMM_BM, blockIdx.x * GEMM_BN, 0, n,
        [&](int o, int i) { return gy[(size_t)i * out + o]; }, [&](int i, int j) { return x[(size_t)i * in + j]; },
        [&](int o, int j, T v) { gw[(size_t)o * in + j] = gw[(size_t)o * in + j] + v; });
}
PDECNN_KERNELS_BOUNDED(dense_backward_filter, GEMM_THREADS, DENSE_BF_PARAMS, (gy, x, gw, n, in, out))
