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
