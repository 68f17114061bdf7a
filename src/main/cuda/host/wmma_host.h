// Host emulation of the part of CUDA's WMMA API (<mma.h>, namespace nvcuda::wmma) that gemm_tf32.cuh uses:
// m16n16k8 fragments of precision::tf32 with float accumulators, fill/load/store/mma_sync and __float_to_tf32.
// Used only by the host build (g++); nvcc builds include the real <mma.h>.
//
// Semantics kept from the GPU:
//  - TF32 arithmetic: mma_sync rounds every A and B element to TF32 (8-bit exponent, 10-bit mantissa) the way
//    __float_to_tf32 does (cvt.rna.tf32.f32: round to nearest, ties away from zero), multiplies (a product of two
//    TF32 values is exact in float) and accumulates in float, in increasing k. The tensor cores' internal
//    summation order is not specified, so tests compare with a tolerance, never bit for bit.
//  - Distribution over lanes: a fragment is owned by the 32 lanes of a warp together. Here lane l owns row l / 2
//    and columns 8 (l % 2) .. 8 (l % 2) + 7 of the 16 x 16 accumulator (8 elements, as on the GPU), and its A and B
//    fragments hold exactly the elements its accumulator elements need (row l / 2 of A; those 8 columns of B).
//    store_matrix_sync writes only the lane's own 8 elements, so a kernel that reads another lane's results
//    without a barrier sees stale data under one of the emulation's two fiber orders, as on a GPU.
//  - Collectivity: every lane of a warp must call each fragment operation (they are warp-wide on the GPU and
//    undefined under divergence). Each call counts on the calling fiber; at every __syncthreads and at the end of
//    the block the emulation checks that the 32 lanes of each warp made the same number of calls, and that the
//    block has whole warps (cuda_host.h, checkWarpCollectives), failing the launch otherwise.
// The element layout differs from the hardware's (which is opaque anyway: code may only touch x[i] element-wise,
// e.g. to apply __float_to_tf32), and num_elements is that of this layout.
#pragma once
#if defined(__CUDACC__)
#error "wmma_host.h is the host emulation; nvcc builds use <mma.h>"
#endif
#include "cuda_host.h"

#include <cstring>

#define __align__(n) __attribute__((aligned(n)))

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
}  // namespace precision
enum layout_t { mem_row_major, mem_col_major };

/** Round to nearest TF32, ties away from zero (cvt.rna.tf32.f32); infinities and NaNs pass unchanged. */
inline float __float_to_tf32(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) {
        u = (u + 0x1000u) & 0xffffe000u;
    }
    float r;
    std::memcpy(&r, &u, 4);
    return r;
}

namespace detail {
/** The calling thread's lane, after counting one warp-collective call (checked at the next barrier). */
inline int collective() {
    ::cuda_emu::Fiber* f = ::cuda_emu::tlWorker->current;
    f->warpCollectives++;
    const dim3 b = ::cuda_emu::gBlockDim;
    return static_cast<int>((f->tid.x + b.x * (f->tid.y + b.y * f->tid.z)) % 32);
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment;

/** Lane l: A[l / 2][0..7]. */
template <class Layout>
struct fragment<matrix_a, 16, 16, 8, precision::tf32, Layout> {
    static constexpr int num_elements = 8;
    float x[num_elements];
};

/** Lane l: B[0..7][8 (l % 2) .. 8 (l % 2) + 7], k-major. */
template <class Layout>
struct fragment<matrix_b, 16, 16, 8, precision::tf32, Layout> {
    static constexpr int num_elements = 64;
    float x[num_elements];
};

/** Lane l: C[l / 2][8 (l % 2) .. 8 (l % 2) + 7]. */
template <>
struct fragment<accumulator, 16, 16, 8, float, void> {
    static constexpr int num_elements = 8;
    float x[num_elements];
};

using accumulator_t = fragment<accumulator, 16, 16, 8, float, void>;

inline void fill_fragment(accumulator_t& c, float v) {
    detail::collective();
    for (float& e : c.x) {
        e = v;
    }
}

/** A (16 x 8) at p with leading dimension ldm: row-major a(r, k) = p[r ldm + k], column-major p[k ldm + r]. */
template <class Layout>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 8, precision::tf32, Layout>& a, const float* p, unsigned ldm) {
    const int r = detail::collective() / 2;
    for (int k = 0; k < 8; k++) {
        a.x[k] = std::is_same_v<Layout, row_major> ? p[r * ldm + k] : p[k * ldm + r];
    }
}

/** B (8 x 16) at p: row-major b(k, c) = p[k ldm + c], column-major p[c ldm + k]. */
template <class Layout>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 8, precision::tf32, Layout>& b, const float* p, unsigned ldm) {
    const int c0 = 8 * (detail::collective() % 2);
    for (int k = 0; k < 8; k++) {
        for (int j = 0; j < 8; j++) {
            const int c = c0 + j;
            b.x[k * 8 + j] = std::is_same_v<Layout, row_major> ? p[k * ldm + c] : p[c * ldm + k];
        }
    }
}

inline void load_matrix_sync(accumulator_t& c, const float* p, unsigned ldm, layout_t layout) {
    const int lane = detail::collective(), r = lane / 2, c0 = 8 * (lane % 2);
    for (int j = 0; j < 8; j++) {
        c.x[j] = layout == mem_row_major ? p[r * ldm + c0 + j] : p[(c0 + j) * ldm + r];
    }
}

inline void store_matrix_sync(float* p, const accumulator_t& c, unsigned ldm, layout_t layout) {
    const int lane = detail::collective(), r = lane / 2, c0 = 8 * (lane % 2);
    for (int j = 0; j < 8; j++) {
        (layout == mem_row_major ? p[r * ldm + c0 + j] : p[(c0 + j) * ldm + r]) = c.x[j];
    }
}

/** d = a b + c with TF32-rounded a and b, float products (exact) and float sums in increasing k. */
template <class LA, class LB>
inline void mma_sync(accumulator_t& d, const fragment<matrix_a, 16, 16, 8, precision::tf32, LA>& a,
                     const fragment<matrix_b, 16, 16, 8, precision::tf32, LB>& b, const accumulator_t& c) {
    detail::collective();
    float out[8];
    for (int j = 0; j < 8; j++) {
        float s = c.x[j];
        for (int k = 0; k < 8; k++) {
            s += __float_to_tf32(a.x[k]) * __float_to_tf32(b.x[k * 8 + j]);
        }
        out[j] = s;
    }
    std::memcpy(d.x, out, sizeof out);
}

}  // namespace wmma
}  // namespace nvcuda
