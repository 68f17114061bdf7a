// Shared by every kernel source: the few macros that differ between nvcc and the host emulation
// (host/cuda_host.h), index helpers, and the f32/f64 instantiation macro.
//
// Conventions of every kernel in this directory:
//  - tensors are NCHW, contiguous, element type T = float (suffix _f32) or double (suffix _f64); both
//    instantiations come from one template, so the f64 build checks the algorithm exactly and the f32
//    build checks float precision;
//  - element counts and indices are int (tensors have fewer than 2^31 elements, as on the Java side);
//  - "written" outputs ignore their previous contents, "accumulated" ones (parameter gradients) are added to,
//    as documented by dev.pdecnn.backend.Backend;
//  - no atomics: every reduction is a fixed tree inside a block plus a fixed-order pass over the block
//    partials, so results are bit-reproducible run to run on the GPU as on the host;
//  - scalar hyper-parameters arrive as double; coefficients derived from them are computed in double and
//    rounded to T once, like the Java CPU backends do.
#pragma once

#if defined(__CUDACC__)
#define PDECNN_DYNAMIC_SHARED(type, name)                            \
    extern __shared__ __align__(16) unsigned char pdecnn_dyn_smem[]; \
    type* name = reinterpret_cast<type*>(pdecnn_dyn_smem)
#define PDECNN_REGISTER(name)
#define PDECNN_CHECK(cond) \
    do {                   \
        if (!(cond)) {     \
            __trap();      \
        }                  \
    } while (0)
#else
#include "host/cuda_host.h"
#define PDECNN_CHECK(cond)                                                                                   \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            ::cuda_emu::fatal(std::string("kernel check failed at " __FILE__ ":" PDECNN_STR(__LINE__) ": ") \
                              + #cond);                                                                      \
        }                                                                                                    \
    } while (0)
#endif

/** Threads per block of the one-dimensional kernels (element-wise, gather, per-point). */
#define PDECNN_THREADS 256

/** The most threads per block of a kernel that reduces with pd_block_sum (the size of its scratch array). */
#define PDECNN_REDUCE_MAX_THREADS 1024

/** Grid-stride loop over [0, n): works for any grid size the launcher picks. */
#define PDECNN_FOR(i, n)                                                                 \
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)(n); \
         i += blockDim.x * gridDim.x)

__device__ __forceinline__ float pd_sqrt(float x) {
    return sqrtf(x);
}
__device__ __forceinline__ double pd_sqrt(double x) {
    return sqrt(x);
}

/** Periodic neighbour index (torch.roll semantics) on [0, n). */
__device__ __forceinline__ int pd_wrap_dec(int i, int n) {
    return i == 0 ? n - 1 : i - 1;
}
__device__ __forceinline__ int pd_wrap_inc(int i, int n) {
    return i == n - 1 ? 0 : i + 1;
}

/** Reflect padding index on [0, n), n >= 2 (numpy "reflect": -1 -> 1, n -> n-2). */
__device__ __forceinline__ int pd_reflect(int i, int n) {
    return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
}

/**
 * Block-wide sum of one double per thread (blockDim.x a power of two, at most PDECNN_REDUCE_MAX_THREADS);
 * the result is valid in thread 0. The tree order is fixed, so the result does not depend on timing. Every
 * thread of the block must call it (it synchronises).
 */
__device__ __forceinline__ double pd_block_sum(double v, double* scratch) {
    const int t = threadIdx.x;
    scratch[t] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            scratch[t] += scratch[t + s];
        }
        __syncthreads();
    }
    double r = scratch[0];
    __syncthreads();
    return r;
}

/**
 * Defines the exported kernels NAME_f32 and NAME_f64 from the template NAME_impl<T>. PARAMS is a macro
 * taking the element type and giving the parameter list; ARGS is the parenthesised argument list.
 */
#define PDECNN_KERNELS(NAME, PARAMS, ARGS)                                                       \
    extern "C" __global__ void NAME##_f32(PARAMS(float)) { NAME##_impl<float> ARGS; }           \
    PDECNN_REGISTER(NAME##_f32)                                                                  \
    extern "C" __global__ void NAME##_f64(PARAMS(double)) { NAME##_impl<double> ARGS; }         \
    PDECNN_REGISTER(NAME##_f64)

/** As PDECNN_KERNELS, with __launch_bounds__(BOUND) (the most threads per block the launcher uses). */
#define PDECNN_KERNELS_BOUNDED(NAME, BOUND, PARAMS, ARGS)                                                 \
    extern "C" __global__ void __launch_bounds__(BOUND) NAME##_f32(PARAMS(float)) { NAME##_impl<float> ARGS; } \
    PDECNN_REGISTER(NAME##_f32)                                                                           \
    extern "C" __global__ void __launch_bounds__(BOUND) NAME##_f64(PARAMS(double)) {                      \
        NAME##_impl<double> ARGS;                                                                         \
    }                                                                                                     \
    PDECNN_REGISTER(NAME##_f64)
