// The tiled matrix-product core of the dense and implicit-GEMM convolution kernels.
//   C[m, n] = sum over k in [k0, k1) of A(m, k) B(k, n), for the 64 x 64 tile at (m0, n0),
// with A and B read through loader functors (so a convolution's im2col matrix is never materialised) and
// the result handed to a store functor (write, add, or add a bias). 256 threads per block; each computes a
// 4 x 4 sub-tile (rows tr + 16 i, columns tc + 16 j). Per 16-deep k-slab the block stages a 64 x 16 slab of
// A and a 16 x 64 slab of B in shared memory (2 x 4 KiB for float): every loaded element is reused 64
// times, so global traffic is (M N K) (1/64 + 1/64) elements instead of 2 M N K.
// Accumulation is in T, in increasing k, one product at a time: the order of a plain loop over k.
#pragma once
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 16
#define GEMM_THREADS 256

template <typename T, class LoadA, class LoadB, class Store>
__device__ __forceinline__ void gemm_tile(int M, int N, int m0, int n0, int k0, int k1, const LoadA& la,
                                          const LoadB& lb, const Store& st) {
    __shared__ T As[GEMM_BK][GEMM_BM + 1];
    __shared__ T Bs[GEMM_BK][GEMM_BN + 1];
    const int tid = threadIdx.x;
    const int tr = tid / 16, tc = tid % 16;
    T acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            acc[i][j] = 0;
        }
    }
    for (int kk = k0; kk < k1; kk += GEMM_BK) {
#pragma unroll
        for (int e = 0; e < (GEMM_BM * GEMM_BK) / GEMM_THREADS; e++) {
            const int idx = tid + e * GEMM_THREADS;
            const int mi = idx % GEMM_BM, ka = idx / GEMM_BM;
            const int m = m0 + mi, k = kk + ka;
            As[ka][mi] = (m < M && k < k1) ? la(m, k) : (T)0;
            const int ni = idx % GEMM_BN, kb = idx / GEMM_BN;
            const int n = n0 + ni, k2 = kk + kb;
            Bs[kb][ni] = (n < N && k2 < k1) ? lb(k2, n) : (T)0;
        }
        __syncthreads();
        const int kn = k1 - kk < GEMM_BK ? k1 - kk : GEMM_BK;
        for (int k = 0; k < kn; k++) {
            T a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                a[i] = As[k][tr + 16 * i];
                b[i] = Bs[k][tc + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    acc[i][j] += a[i] * b[j];
                }
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int m = m0 + tr + 16 * i, n = n0 + tc + 16 * j;
            if (m < M && n < N) {
                st(m, n, acc[i][j]);
            }
        }
    }
}

/** gemm_tile as a functor over the block's tile (blockIdx.y: rows, blockIdx.x: columns), for the shared bodies. */
template <typename T>
struct GemmCore {
    template <class LoadA, class LoadB, class Store>
    __device__ __forceinline__ void operator()(int M, int N, int k0, int k1, const LoadA& la, const LoadB& lb,
                                               const Store& st) const {
        gemm_tile<T>(M, N, blockIdx.y * GEMM_BM, blockIdx.x * GEMM_BN, k0, k1, la, lb, st);
    }
};
