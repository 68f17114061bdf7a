// The TF32 tensor-core matrix-product core (sm_80 and later), the counterpart of gemm.cuh's fp32 tile:
//   C[m, n] = sum over k in [k0, k1) of tf32(A(m, k)) tf32(B(k, n)), for the BM x BN tile at (m0, n0),
// with the same loader and store functors as gemm_tile (im2col never materialised).
//
// TF32_THREADS = 128 threads (4 warps) per block. Tile shapes (BM x BN; warps along M x N; 16 x 16 fragments per
// warp), chosen per layer by the launcher (dev.pdecnn.backend.cuda.Tf32Gemm) so that few rows idle:
//   16 x 128  (1 x 4 warps, 1 x 2 fragments)  M <= 16: the 16-channel stage-1 layers, whose M is 16
//   32 x 128  (2 x 2 warps, 1 x 4 fragments)  M <= 32
//   64 x 64   (2 x 2 warps, 2 x 2 fragments)  larger M on few tiles
//   64 x 128  (2 x 2 warps, 2 x 4 fragments)  larger M on many tiles
// Per TF32_BK-deep k-slab the block stages BM x 16 of A and 16 x BN of B in shared memory, rounded to TF32 once
// there (wmma::__float_to_tf32: the tensor cores would otherwise just drop the low 13 mantissa bits), each element
// then serving BN (A) or BM (B) outputs; the next slab is fetched into registers while the warps run their
// m16n16k8 mma_sync on the current one. Accumulation is in float. The accumulators leave through shared memory
// (reusing the operand buffers) so that the store functor sees (m, n) pairs with n fastest, i.e. coalesced.
//
// The WMMA path is compiled for __CUDA_ARCH__ >= 800 and for the host emulation (host/wmma_host.h). The compute_70
// PTX and the sm_70/sm_75 SASS get a plain fp32 body (one output per thread per pass, straight from the loaders):
// the launcher never picks these kernels below sm_80, but every module must hold the same entry points.
#pragma once
#include "common.cuh"

#if defined(__CUDACC__)
#include <mma.h>
#else
#include "host/wmma_host.h"
#endif
#if !defined(__CUDACC__) || (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800)
#define PDECNN_TF32_MMA
#endif

#define TF32_THREADS 128
#define TF32_BK 16

/** The derived geometry of one tile shape. */
template <int BM, int BN>
struct Tf32Tile {
    static constexpr int WARPS_M = BM >= 32 ? 2 : 1, WARPS_N = (TF32_THREADS / 32) / WARPS_M;
    static constexpr int FM = BM / WARPS_M / 16, FN = BN / WARPS_N / 16;  // fragments per warp
    // Leading dimensions padded by 4 floats against bank conflicts; they keep every fragment pointer 32-byte
    // aligned (fragment rows start at multiples of 16 rows, k at multiples of 8), as load/store_matrix_sync need.
    static constexpr int LDA = TF32_BK + 4, LDB = BN + 4, LDC = BN + 4;
    static constexpr int OPERANDS = BM * LDA + TF32_BK * LDB, OUT = BM * LDC;
    static constexpr int SMEM = OPERANDS > OUT ? OPERANDS : OUT;
    static constexpr int EA = BM * TF32_BK / TF32_THREADS, EB = TF32_BK * BN / TF32_THREADS;  // loads per thread
    static_assert(FM * WARPS_M * 16 == BM && FN * WARPS_N * 16 == BN, "tile must split into 16 x 16 fragments");
    static_assert(EA * TF32_THREADS == BM * TF32_BK && EB * TF32_THREADS == TF32_BK * BN, "whole loads per thread");
};

template <int BM, int BN, class LoadA, class LoadB, class Store>
__device__ __forceinline__ void gemm_tile_tf32(int M, int N, int m0, int n0, int k0, int k1, const LoadA& la,
                                               const LoadB& lb, const Store& st) {
    using G = Tf32Tile<BM, BN>;
#if defined(PDECNN_TF32_MMA)
    namespace wmma = nvcuda::wmma;
    __shared__ __align__(32) float smem[G::SMEM];
    float* As = smem;                // [BM][LDA], row-major: As[m][k]
    float* Bs = smem + BM * G::LDA;  // [BK][LDB], row-major: Bs[k][n]
    float* Cs = smem;                // [BM][LDC], after the last slab
    const int tid = threadIdx.x, warp = tid / 32;
    const int wm = warp / G::WARPS_N, wn = warp - (warp / G::WARPS_N) * G::WARPS_N;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[G::FM][G::FN];
#pragma unroll
    for (int i = 0; i < G::FM; i++) {
#pragma unroll
        for (int j = 0; j < G::FN; j++) {
            wmma::fill_fragment(acc[i][j], 0.0f);
        }
    }
    // A is fetched k-fastest (a weight row or an activation row is contiguous in k), B n-fastest (output pixels).
    float ra[G::EA], rb[G::EB];
    auto fetch = [&](int kk) {
#pragma unroll
        for (int e = 0; e < G::EA; e++) {
            const int idx = tid + e * TF32_THREADS;
            const int ka = idx % TF32_BK, m = m0 + idx / TF32_BK, k = kk + ka;
            ra[e] = (m < M && k < k1) ? (float)la(m, k) : 0.0f;
        }
#pragma unroll
        for (int e = 0; e < G::EB; e++) {
            const int idx = tid + e * TF32_THREADS;
            const int n = n0 + idx % BN, k = kk + idx / BN;
            rb[e] = (n < N && k < k1) ? (float)lb(k, n) : 0.0f;
        }
    };
    fetch(k0);
    for (int kk = k0; kk < k1; kk += TF32_BK) {
#pragma unroll
        for (int e = 0; e < G::EA; e++) {
            const int idx = tid + e * TF32_THREADS;
            As[(idx / TF32_BK) * G::LDA + idx % TF32_BK] = wmma::__float_to_tf32(ra[e]);
        }
#pragma unroll
        for (int e = 0; e < G::EB; e++) {
            const int idx = tid + e * TF32_THREADS;
            Bs[(idx / BN) * G::LDB + idx % BN] = wmma::__float_to_tf32(rb[e]);
        }
        __syncthreads();
        if (kk + TF32_BK < k1) {
            fetch(kk + TF32_BK);  // in flight while the tensor cores work on this slab
        }
#pragma unroll
        for (int ks = 0; ks < TF32_BK; ks += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[G::FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[G::FN];
#pragma unroll
            for (int i = 0; i < G::FM; i++) {
                wmma::load_matrix_sync(a[i], As + (wm * G::FM + i) * 16 * G::LDA + ks, G::LDA);
            }
#pragma unroll
            for (int j = 0; j < G::FN; j++) {
                wmma::load_matrix_sync(b[j], Bs + ks * G::LDB + (wn * G::FN + j) * 16, G::LDB);
            }
#pragma unroll
            for (int i = 0; i < G::FM; i++) {
#pragma unroll
                for (int j = 0; j < G::FN; j++) {
                    wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < G::FM; i++) {
#pragma unroll
        for (int j = 0; j < G::FN; j++) {
            wmma::store_matrix_sync(Cs + (wm * G::FM + i) * 16 * G::LDC + (wn * G::FN + j) * 16, acc[i][j], G::LDC,
                                    wmma::mem_row_major);
        }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < BM * BN; idx += TF32_THREADS) {
        const int m = m0 + idx / BN, n = n0 + idx % BN;
        if (m < M && n < N) {
            st(m, n, (float)Cs[(idx / BN) * G::LDC + idx % BN]);
        }
    }
#else
    // Below sm_80 (never launched there; see the header): fp32, one output per thread per pass, k in order.
    for (int idx = threadIdx.x; idx < BM * BN; idx += TF32_THREADS) {
        const int m = m0 + idx / BN, n = n0 + idx % BN;
        if (m < M && n < N) {
            float s = 0.0f;
            for (int k = k0; k < k1; k++) {
                s += (float)la(m, k) * (float)lb(k, n);
            }
            st(m, n, s);
        }
    }
#endif
}

/** gemm_tile_tf32 as a functor over the block's tile, the TF32 counterpart of GemmCore. */
template <int BM, int BN>
struct Tf32Core {
    template <class LoadA, class LoadB, class Store>
    __device__ __forceinline__ void operator()(int M, int N, int k0, int k1, const LoadA& la, const LoadB& lb,
                                               const Store& st) const {
        gemm_tile_tf32<BM, BN>(M, N, blockIdx.y * BM, blockIdx.x * BN, k0, k1, la, lb, st);
    }
};

/**
 * Defines NAME_tf32_BMxBN_f32 (float only: TF32 is a float format) for each tile shape, from the body
 * NAME_body<float>(core, ...) that the fp32 kernel NAME_gemm shares; PARAMS and ARGS as in PDECNN_KERNELS.
 */
#define PDECNN_TF32_KERNEL(NAME, BM, BN, PARAMS, ARGS)                                                            \
    extern "C" __global__ void __launch_bounds__(TF32_THREADS) NAME##_tf32_##BM##x##BN##_f32(PARAMS(float)) { \
        const Tf32Core<BM, BN> core;                                                                          \
        NAME##_body<float> ARGS;                                                                              \
    }                                                                                                         \
    PDECNN_REGISTER(NAME##_tf32_##BM##x##BN##_f32)
#define PDECNN_TF32_KERNELS(NAME, PARAMS, ARGS)      \
    PDECNN_TF32_KERNEL(NAME, 16, 128, PARAMS, ARGS) \
    PDECNN_TF32_KERNEL(NAME, 32, 128, PARAMS, ARGS) \
    PDECNN_TF32_KERNEL(NAME, 64, 64, PARAMS, ARGS)  \
    PDECNN_TF32_KERNEL(NAME, 64, 128, PARAMS, ARGS)
