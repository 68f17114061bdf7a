// Kernels that test the host emulation itself (host builds only; not part of the PTX): the barrier is a real
// barrier, a missing barrier is exposed, divergent barriers are reported, and 3-D grids and blocks decompose
// as on a GPU. Launched by dev.pdecnn.cuda.EmulationTest.
#include "../common.cuh"

/** out[i] = in of the next thread of the block (rotating), through shared memory, with a barrier. */
extern "C" __global__ void emu_shift(const int* in, int* out) {
    __shared__ int s[1024];
    const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
    s[t] = in[base + t];
    __syncthreads();
    out[base + t] = s[(t + 1) % blockDim.x];
}
PDECNN_REGISTER(emu_shift)

/** The same without the barrier: a race that the emulation must expose. */
extern "C" __global__ void emu_shift_unsynced(const int* in, int* out) {
    __shared__ int s[1024];
    const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
    s[t] = in[base + t];
    out[base + t] = s[(t + 1) % blockDim.x];
    s[t] = -1;
    __syncthreads();
}
PDECNN_REGISTER(emu_shift_unsynced)

/** Threads below 5 return before a barrier the others reach: undefined on a GPU, reported by the emulation. */
extern "C" __global__ void emu_divergent(int* out) {
    if (threadIdx.x < 5) {
        return;
    }
    __syncthreads();
    out[threadIdx.x] = 1;
}
PDECNN_REGISTER(emu_divergent)

/** Writes 12 ints per thread: threadIdx, blockIdx, blockDim, gridDim (x, y, z each). */
extern "C" __global__ void emu_dims(int* out) {
    const int tpb = blockDim.x * blockDim.y * blockDim.z;
    const int b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    const int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    int* o = out + ((size_t)b * tpb + t) * 12;
    o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
    o[3] = blockIdx.x; o[4] = blockIdx.y; o[5] = blockIdx.z;
    o[6] = blockDim.x; o[7] = blockDim.y; o[8] = blockDim.z;
    o[9] = gridDim.x; o[10] = gridDim.y; o[11] = gridDim.z;
}
PDECNN_REGISTER(emu_dims)

/** Writes one int past the end of a one-int buffer: the driver's guard bytes must catch it. */
extern "C" __global__ void emu_overrun(int* out) {
    out[threadIdx.x] = 7;
}
PDECNN_REGISTER(emu_overrun)

/** out[t] = the address of a 16-byte-aligned local modulo 16 (0 unless fiber stacks break the ABI's alignment). */
extern "C" __global__ void emu_align(int* out) {
    alignas(16) volatile unsigned char local[16];
    local[0] = 1;
    __syncthreads();
    out[threadIdx.x] = (int)(reinterpret_cast<std::uintptr_t>(&local[0]) % 16) + (local[0] - 1);
}
PDECNN_REGISTER(emu_align)

// ---------------------------------------------------------------- WMMA emulation (wmma_host.h)
#include "wmma_host.h"

/** out[i] = __float_to_tf32(in[i]), grid-stride: the kernels' rounding, compared with the tests' reference. */
extern "C" __global__ void emu_tf32_round(const float* in, float* out, int n) {
    PDECNN_FOR(i, n) {
        out[i] = nvcuda::wmma::__float_to_tf32(in[i]);
    }
}
PDECNN_REGISTER(emu_tf32_round)

/**
 * One warp per block: C (16 x 16) = A (16 x 8) B (8 x 16) + C through the fragment calls, A row-major or
 * column-major (colA != 0), B row-major, C loaded and stored row-major; every operand with leading dimension
 * 20 (padding read but unused).
 */
extern "C" __global__ void emu_wmma_mma(const float* a, const float* b, float* c, int colA) {
    namespace wmma = nvcuda::wmma;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::load_matrix_sync(acc, c, 20, wmma::mem_row_major);
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::load_matrix_sync(fb, b, 20);
    if (colA != 0) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa;
        wmma::load_matrix_sync(fa, a, 20);
        wmma::mma_sync(acc, fa, fb, acc);
    } else {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
        wmma::load_matrix_sync(fa, a, 20);
        wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(c, acc, 20, wmma::mem_row_major);
}
PDECNN_REGISTER(emu_wmma_mma)

/** Only lanes below `lanes` of each warp fill a fragment: a divergent warp-collective call, reported. */
extern "C" __global__ void emu_wmma_divergent(int lanes) {
    nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float> acc;
    if ((int)(threadIdx.x % 32) < lanes) {
        nvcuda::wmma::fill_fragment(acc, 0.0f);
    }
    __syncthreads();
}
PDECNN_REGISTER(emu_wmma_divergent)
