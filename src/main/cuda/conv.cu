// 2-D convolution (cross-correlation, no bias), NCHW, any kernel size, stride, zero padding and groups:
//   y[n, co, oi, oj] = sum over c < C/G, ki, kj of w[co, c, ki, kj] x[n, g C/G + c, oi s - p + ki, oj s - p + kj]
// with g = co / (Co/G) and x = 0 outside the image. Backward: gx (written) and gw (accumulated).
//
// Two families, chosen by the launcher (CudaBackend):
//  Implicit GEMM (tiled, gemm.cuh) for convolutions with many channels per group (3x3 and 1x1 full convs):
//   conv_forward_gemm:          per group, Y[co, (n,oi,oj)] = W[co, (c,ki,kj)] X[(c,ki,kj), (n,oi,oj)];
//                               the im2col matrix X is gathered on the fly into shared memory.
//                               grid (ceil(N Ho Wo / 64), ceil(Co/G / 64), G)
//   conv_backward_data_gemm:    per group, GX[c, (n,i,j)] = W^T[c, (co,ki,kj)] GYcol[(co,ki,kj), (n,i,j)],
//                               where GYcol gathers gy[n, co, (i+p-ki)/s, (j+p-kj)/s] when that divides
//                               exactly and lies inside (stride-aware gather, no col2im scatter).
//                               grid (ceil(N H W / 64), ceil(C/G / 64), G)
//   conv_backward_filter_gemm:  per group, GW[co, (c,ki,kj)] = GY[co, (n,oi,oj)] X^T[(n,oi,oj), (c,ki,kj)];
//                               the long reduction over N Ho Wo is split in `splits` slices (grid z =
//                               G splits), each writing its own partial; add_partials (elementwise.cu) then
//                               adds the slices into gw in a fixed order: deterministic, no atomics.
//                               grid (ceil(C/G KH KW / 64), ceil(Co/G / 64), G splits)
//   Traffic: the operand tiles are each reused 64 times from shared memory; beyond that each kernel
//   writes its output once (the filter gradient: splits Co C/G KH KW partials, then one pass over them).
//  Direct (one output per thread) for depthwise and other thin convolutions, where a 64-wide tile would idle:
//   conv_forward_direct:        thread per output, sums C/G KH KW products (reads hit cache).
//   conv_backward_data_direct:  thread per input element, gathers Co/G KH KW products.
//   conv_backward_filter_direct: block per weight element (grid = Co C/G KH KW, 256 threads), a block-wide
//                               double reduction over N Ho Wo, then gw += sum.
//  TF32 (sm_80+, gemm_tf32.cuh): conv_{forward,backward_data,backward_filter}_tf32_BMxBN_f32 run the same three
//   implicit GEMMs (the same loaders and stores: one body per operation, templated on the tile core) on the tensor
//   cores, with the tile shape BM x BN the launcher (ConvKernels, Tf32Gemm) picks for the layer;
//   grid (ceil(columns / BN), ceil(rows / BM), G or G splits), TF32_THREADS threads.
// Products accumulate in T in the order of the CPU reference's inner loop (c, ki, kj) (fp32 and f64 kernels).
#include "gemm.cuh"
#include "gemm_tf32.cuh"

#define CONV_DIMS int N, int C, int H, int W, int Co, int KH, int KW, int stride, int pad, int groups, int Ho, int Wo
#define CONV_DIM_ARGS N, C, H, W, Co, KH, KW, stride, pad, groups, Ho, Wo

// ----------------------------------------------------------------------------------------- implicit GEMM

#define CONV_FWD_PARAMS(T) const T *__restrict__ x, const T *__restrict__ w, T *__restrict__ y, CONV_DIMS
template <typename T, class Core>
__device__ __forceinline__ void conv_forward_body(const Core& core, CONV_FWD_PARAMS(T)) {
    const int g = blockIdx.z;
    const int cg = C / groups, cog = Co / groups, kk = KH * KW, K = cg * kk, P = Ho * Wo;
    const T* wg = w + (size_t)g * cog * K;
    core(
        cog, N * P, 0, K,
        [&](int m, int k) { return wg[(size_t)m * K + k]; },
        [&](int k, int col) {
            const int c = k / kk, r = k - (k / kk) * kk;
            const int ki = r / KW, kj = r - (r / KW) * KW;
            const int img = col / P, p = col - (col / P) * P;
            const int ii = (p / Wo) * stride - pad + ki, jj = (p - (p / Wo) * Wo) * stride - pad + kj;
            return (ii >= 0 && ii < H && jj >= 0 && jj < W)
                       ? x[(((size_t)img * C + g * cg + c) * H + ii) * W + jj]
                       : (T)0;
        },
        [&](int m, int col, T v) {
            const int img = col / P, p = col - (col / P) * P;
            y[((size_t)img * Co + g * cog + m) * P + p] = v;
        });
}
template <typename T>
__device__ void conv_forward_gemm_impl(CONV_FWD_PARAMS(T)) {
    conv_forward_body<T>(GemmCore<T>{}, x, w, y, CONV_DIM_ARGS);
}
PDECNN_KERNELS_BOUNDED(conv_forward_gemm, GEMM_THREADS, CONV_FWD_PARAMS, (x, w, y, CONV_DIM_ARGS))
PDECNN_TF32_KERNELS(conv_forward, CONV_FWD_PARAMS, (core, x, w, y, CONV_DIM_ARGS))

#define CONV_BD_PARAMS(T) const T *__restrict__ gy, const T *__restrict__ w, T *__restrict__ gx, CONV_DIMS
template <typename T, class Core>
__device__ __forceinline__ void conv_backward_data_body(const Core& core, CONV_BD_PARAMS(T)) {
    const int g = blockIdx.z;
    const int cg = C / groups, cog = Co / groups, kk = KH * KW, HW = H * W;
    core(
        cg, N * HW, 0, cog * kk,
        [&](int c, int k) {
            const int co = k / kk, r = k - (k / kk) * kk;
            return w[(((size_t)g * cog + co) * cg + c) * kk + r];
        },
        [&](int k, int col) {
            const int co = k / kk, r = k - (k / kk) * kk;
            const int ki = r / KW, kj = r - (r / KW) * KW;
            const int img = col / HW, q = col - (col / HW) * HW;
            const int ti = q / W + pad - ki, tj = q - (q / W) * W + pad - kj;
            if (ti < 0 || tj < 0 || ti % stride != 0 || tj % stride != 0) {
                return (T)0;
            }
            const int oi = ti / stride, oj = tj / stride;
            return (oi < Ho && oj < Wo) ? gy[(((size_t)img * Co + g * cog + co) * Ho + oi) * Wo + oj] : (T)0;
        },
        [&](int c, int col, T v) {
            const int img = col / HW, q = col - (col / HW) * HW;
            gx[((size_t)img * C + g * cg + c) * HW + q] = v;
        });
}
template <typename T>
__device__ void conv_backward_data_gemm_impl(CONV_BD_PARAMS(T)) {
    conv_backward_data_body<T>(GemmCore<T>{}, gy, w, gx, CONV_DIM_ARGS);
}
PDECNN_KERNELS_BOUNDED(conv_backward_data_gemm, GEMM_THREADS, CONV_BD_PARAMS, (gy, w, gx, CONV_DIM_ARGS))
PDECNN_TF32_KERNELS(conv_backward_data, CONV_BD_PARAMS, (core, gy, w, gx, CONV_DIM_ARGS))

#define CONV_BF_PARAMS(T) \
    const T *__restrict__ x, const T *__restrict__ gy, T *__restrict__ partial, CONV_DIMS, int splits
template <typename T, class Core>
__device__ __forceinline__ void conv_backward_filter_body(const Core& core, CONV_BF_PARAMS(T)) {
    const int g = blockIdx.z / splits, split = blockIdx.z - (blockIdx.z / splits) * splits;
    const int cg = C / groups, cog = Co / groups, kk = KH * KW, cols = cg * kk, P = Ho * Wo;
    const int red = N * P;
    const int chunk = (red + splits - 1) / splits;
    const int k0 = split * chunk < red ? split * chunk : red;
    const int k1 = k0 + chunk < red ? k0 + chunk : red;
    T* out = partial + (size_t)split * Co * cols;
    core(
        cog, cols, k0, k1,
        [&](int m, int k) {
            const int img = k / P, p = k - (k / P) * P;
            return gy[((size_t)img * Co + g * cog + m) * P + p];
        },
        [&](int k, int col) {
            const int img = k / P, p = k - (k / P) * P;
            const int c = col / kk, r = col - (col / kk) * kk;
            const int ki = r / KW, kj = r - (r / KW) * KW;
            const int ii = (p / Wo) * stride - pad + ki, jj = (p - (p / Wo) * Wo) * stride - pad + kj;
            return (ii >= 0 && ii < H && jj >= 0 && jj < W)
                       ? x[(((size_t)img * C + g * cg + c) * H + ii) * W + jj]
                       : (T)0;
        },
        [&](int m, int col, T v) { out[((size_t)g * cog + m) * cols + col] = v; });
}
template <typename T>
__device__ void conv_backward_filter_gemm_impl(CONV_BF_PARAMS(T)) {
    conv_backward_filter_body<T>(GemmCore<T>{}, x, gy, partial, CONV_DIM_ARGS, splits);
}
PDECNN_KERNELS_BOUNDED(conv_backward_filter_gemm, GEMM_THREADS, CONV_BF_PARAMS, (x, gy, partial, CONV_DIM_ARGS, splits))
PDECNN_TF32_KERNELS(conv_backward_filter, CONV_BF_PARAMS, (core, x, gy, partial, CONV_DIM_ARGS, splits))

// ---------------------------------------------------------------------------------------------- direct

template <typename T>
__device__ void conv_forward_direct_impl(CONV_FWD_PARAMS(T)) {
    const int cg = C / groups, cog = Co / groups, P = Ho * Wo;
    PDECNN_FOR(o, N * Co * P) {
        const int img = o / (Co * P);
        const int r = o - img * Co * P;
        const int co = r / P, p = r - (r / P) * P;
        const int oi = p / Wo, oj = p - (p / Wo) * Wo;
        const int g = co / cog;
        const T* wc = w + (size_t)co * cg * KH * KW;
        T s = 0;
        for (int c = 0; c < cg; c++) {
            const T* xc = x + ((size_t)img * C + g * cg + c) * H * W;
            for (int ki = 0; ki < KH; ki++) {
                const int ii = oi * stride - pad + ki;
                for (int kj = 0; kj < KW; kj++) {
                    const int jj = oj * stride - pad + kj;
                    const T xv = (ii >= 0 && ii < H && jj >= 0 && jj < W) ? xc[ii * W + jj] : (T)0;
                    s += wc[(c * KH + ki) * KW + kj] * xv;
                }
            }
        }
        y[o] = s;
    }
}
PDECNN_KERNELS(conv_forward_direct, CONV_FWD_PARAMS, (x, w, y, CONV_DIM_ARGS))

template <typename T>
__device__ void conv_backward_data_direct_impl(CONV_BD_PARAMS(T)) {
    const int cg = C / groups, cog = Co / groups, HW = H * W;
    PDECNN_FOR(idx, N * C * HW) {
        const int img = idx / (C * HW);
        const int r = idx - img * C * HW;
        const int ci = r / HW, q = r - (r / HW) * HW;
        const int i = q / W, j = q - (q / W) * W;
        const int g = ci / cg, c = ci - g * cg;
        T s = 0;
        for (int co = g * cog; co < (g + 1) * cog; co++) {
            const T* gyc = gy + ((size_t)img * Co + co) * Ho * Wo;
            const T* wc = w + ((size_t)co * cg + c) * KH * KW;
            for (int ki = 0; ki < KH; ki++) {
                const int ti = i + pad - ki;
                if (ti < 0 || ti % stride != 0 || ti / stride >= Ho) {
                    continue;
                }
                for (int kj = 0; kj < KW; kj++) {
                    const int tj = j + pad - kj;
                    if (tj < 0 || tj % stride != 0 || tj / stride >= Wo) {
                        continue;
                    }
                    s += wc[ki * KW + kj] * gyc[(ti / stride) * Wo + tj / stride];
                }
            }
        }
        gx[idx] = s;
    }
}
PDECNN_KERNELS(conv_backward_data_direct, CONV_BD_PARAMS, (gy, w, gx, CONV_DIM_ARGS))

#define CONV_BFD_PARAMS(T) const T *__restrict__ x, const T *__restrict__ gy, T *__restrict__ gw, CONV_DIMS
/** Block per weight element; blockDim.x a power of two (256). */
template <typename T>
__device__ void conv_backward_filter_direct_impl(CONV_BFD_PARAMS(T)) {
    __shared__ double scratch[PDECNN_REDUCE_MAX_THREADS];
    const int cg = C / groups, cog = Co / groups, kk = KH * KW, P = Ho * Wo;
    const int widx = blockIdx.x;
    const int co = widx / (cg * kk);
    const int r = widx - co * cg * kk;
    const int c = r / kk, ki = (r - c * kk) / KW, kj = r - c * kk - ((r - c * kk) / KW) * KW;
    const int g = co / cog;
    double s = 0;
    for (int k = threadIdx.x; k < N * P; k += blockDim.x) {
        const int img = k / P, p = k - (k / P) * P;
        const int ii = (p / Wo) * stride - pad + ki, jj = (p - (p / Wo) * Wo) * stride - pad + kj;
        if (ii >= 0 && ii < H && jj >= 0 && jj < W) {
            s += (double)gy[((size_t)img * Co + co) * P + p] * x[(((size_t)img * C + g * cg + c) * H + ii) * W + jj];
        }
    }
    s = pd_block_sum(s, scratch);
    if (threadIdx.x == 0) {
        gw[widx] = (T)(gw[widx] + s);
    }
}
PDECNN_KERNELS(conv_backward_filter_direct, CONV_BFD_PARAMS, (x, gy, gw, CONV_DIM_ARGS))
