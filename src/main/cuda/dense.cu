// Dense (fully connected) layer as GEMMs on the tile core of gemm.cuh; x is [n, in], w is [out, in].
//   dense_forward:          y[i, o] = sum_j x[i, j] w[o, j] + b[o]        grid (ceil(out/64), ceil(n/64))
//   dense_backward_data:    gx[i, j] = sum_o gy[i, o] w[o, j]             grid (ceil(in/64), ceil(n/64))
//   dense_backward_filter:  gw[o, j] += sum_i gy[i, o] x[i, j]            grid (ceil(in/64), ceil(out/64))
//   (the bias gradient gb[o] += sum_i gy[i, o] is col_sum in elementwise.cu)
// TF32 (sm_80+): dense_{forward,backward_data,backward_filter}_tf32_BMxBN_f32, the same GEMMs (one body each,
// templated on the tile core) on the tensor cores of gemm_tf32.cuh, with the grid of the tile shape picked.
// 256 threads per block. Global traffic per product of an M x K by a K x N matrix: about M K N / 32 element
// reads (each staged element serves a 64-wide tile) plus M N writes (reads too, for the accumulating one).
#include "gemm.cuh"
#include "gemm_tf32.cuh"

#define DENSE_FWD_PARAMS(T) \
    const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ b, T *__restrict__ y, int n, int in, int out
template <typename T, class Core>
__device__ __forceinline__ void dense_forward_body(const Core& core, DENSE_FWD_PARAMS(T)) {
    core(
        n, out, 0, in,
        [&](int m, int k) { return x[(size_t)m * in + k]; }, [&](int k, int o) { return w[(size_t)o * in + k]; },
        [&](int m, int o, T v) { y[(size_t)m * out + o] = b == nullptr ? v : v + b[o]; });
}
template <typename T>
__device__ void dense_forward_impl(DENSE_FWD_PARAMS(T)) {
    dense_forward_body<T>(GemmCore<T>{}, x, w, b, y, n, in, out);
}
PDECNN_KERNELS_BOUNDED(dense_forward, GEMM_THREADS, DENSE_FWD_PARAMS, (x, w, b, y, n, in, out))
PDECNN_TF32_KERNELS(dense_forward, DENSE_FWD_PARAMS, (core, x, w, b, y, n, in, out))

#define DENSE_BD_PARAMS(T) \
    const T *__restrict__ gy, const T *__restrict__ w, T *__restrict__ gx, int n, int in, int out
template <typename T, class Core>
__device__ __forceinline__ void dense_backward_data_body(const Core& core, DENSE_BD_PARAMS(T)) {
    core(
        n, in, 0, out,
        [&](int m, int k) { return gy[(size_t)m * out + k]; }, [&](int k, int j) { return w[(size_t)k * in + j]; },
        [&](int m, int j, T v) { gx[(size_t)m * in + j] = v; });
}
template <typename T>
__device__ void dense_backward_data_impl(DENSE_BD_PARAMS(T)) {
    dense_backward_data_body<T>(GemmCore<T>{}, gy, w, gx, n, in, out);
}
PDECNN_KERNELS_BOUNDED(dense_backward_data, GEMM_THREADS, DENSE_BD_PARAMS, (gy, w, gx, n, in, out))
PDECNN_TF32_KERNELS(dense_backward_data, DENSE_BD_PARAMS, (core, gy, w, gx, n, in, out))

#define DENSE_BF_PARAMS(T) \
    const T *__restrict__ gy, const T *__restrict__ x, T *__restrict__ gw, int n, int in, int out
template <typename T, class Core>
__device__ __forceinline__ void dense_backward_filter_body(const Core& core, DENSE_BF_PARAMS(T)) {
    core(
        out, in, 0, n,
        [&](int o, int i) { return gy[(size_t)i * out + o]; }, [&](int i, int j) { return x[(size_t)i * in + j]; },
        [&](int o, int j, T v) { gw[(size_t)o * in + j] = gw[(size_t)o * in + j] + v; });
}
template <typename T>
__device__ void dense_backward_filter_impl(DENSE_BF_PARAMS(T)) {
    dense_backward_filter_body<T>(GemmCore<T>{}, gy, x, gw, n, in, out);
}
PDECNN_KERNELS_BOUNDED(dense_backward_filter, GEMM_THREADS, DENSE_BF_PARAMS, (gy, x, gw, n, in, out))
PDECNN_TF32_KERNELS(dense_backward_filter, DENSE_BF_PARAMS, (core, gy, x, gw, n, in, out))
