// Host emulation of the CUDA execution model, so that g++ compiles the kernels of src/main/cuda/*.cu for the
// CPU and tests can launch them with the grid and block sizes of the GPU path.
//
// What is emulated, and how:
//  - Each CUDA thread of a block is a fiber (own 256 KiB stack with a guard page; a small assembly context
//    switch on x86-64, ucontext elsewhere). A block runs
//    on one OS worker thread, phase by phase: a phase runs every fiber of the block until it reaches
//    __syncthreads() or returns, so __syncthreads() is a real barrier: no thread passes it before all
//    threads of the block have reached it. Within a phase the fibers run in thread order on even phases
//    and in reverse order on odd phases, so a read of shared memory that lacks its barrier sees stale
//    data under one of the two orders and the equality tests fail.
//  - __syncthreads() also checks what CUDA leaves undefined: all threads of a phase must wait at the same
//    call site, and no thread may have returned from the kernel while others wait at a barrier; either
//    fault aborts the launch with a message naming the site.
//  - Blocks are independent, as on a GPU: they are spread over min(cores, blocks) worker threads
//    (PDECNN_HOST_WORKERS overrides), each running its blocks one after another.
//  - threadIdx / blockIdx / blockDim / gridDim read the running fiber's and worker's state.
//  - __shared__ variables become function-local `static thread_local` variables: one instance per worker,
//    shared by the fibers of the block it runs. Dynamic shared memory (PDECNN_DYNAMIC_SHARED) is one
//    buffer per worker, filled with 0xFF bytes (a NaN pattern) before every block, as its contents are
//    undefined on a GPU.
//  - atomicAdd through std::atomic_ref; the math functions the kernels use map to <cmath>.
// Kernels register themselves (PDECNN_REGISTER) with their parameter types, so the driver checks the
// types of the arguments a launch passes, which a GPU would not.
#pragma once
#if defined(__CUDACC__)
#error "cuda_host.h is the host emulation; nvcc builds use the real CUDA headers"
#endif

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

// Fiber switch: a minimal x86-64 System V context switch (callee-saved registers on the stack), about 50x
// cheaper than swapcontext, which makes a system call per switch; other targets use ucontext.
#if defined(__x86_64__) && !defined(PDECNN_UCONTEXT_FIBERS)
#define PDECNN_ASM_FIBERS 1
extern "C" void pdecnn_swap(void** saveSp, void* loadSp);
extern "C" void pdecnn_fiber_start();
#ifndef PDECNN_FIBER_ASM_DEFINED
#define PDECNN_FIBER_ASM_DEFINED
// Weak, so that every translation unit that includes this header may carry the definition.
asm(R"(
    .text
    .weak pdecnn_swap
    .type pdecnn_swap, @function
pdecnn_swap:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size pdecnn_swap, .-pdecnn_swap
    .weak pdecnn_fiber_start
    .type pdecnn_fiber_start, @function
pdecnn_fiber_start:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size pdecnn_fiber_start, .-pdecnn_fiber_start
)");
#endif
#else
#define PDECNN_ASM_FIBERS 0
#endif

namespace cuda_emu {

[[noreturn]] void fatal(const std::string& message);  // defined by the driver: reports and exits

// ---------------------------------------------------------------- kernel registry

template <class T>
constexpr char tagOf() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) {
        return 'P';
    } else if constexpr (std::is_same_v<U, int>) {
        return 'I';
    } else if constexpr (std::is_same_v<U, long long>) {
        return 'J';
    } else if constexpr (std::is_same_v<U, float>) {
        return 'F';
    } else if constexpr (std::is_same_v<U, double>) {
        return 'D';
    } else {
        static_assert(sizeof(U) == 0, "kernel parameter types: pointers, int, long long, float, double");
        return '?';
    }
}

struct KernelInfo {
    std::string signature;  // one tag per parameter
    std::function<void(void**)> call;
};

inline std::map<std::string, KernelInfo>& registry() {
    static std::map<std::string, KernelInfo> r;
    return r;
}

template <class... A, std::size_t... I>
void invoke(void (*fn)(A...), void** args, std::index_sequence<I...>) {
    fn(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

struct Registrar {
    template <class... A>
    Registrar(const char* name, void (*fn)(A...)) {
        KernelInfo info;
        info.signature = std::string{tagOf<A>()...};
        info.call = [fn](void** args) { invoke(fn, args, std::index_sequence_for<A...>{}); };
        if (!registry().emplace(name, std::move(info)).second) {
            std::fprintf(stderr, "kernel %s registered twice\n", name);
            std::abort();
        }
    }
};

// ---------------------------------------------------------------- fibers and workers

constexpr std::size_t FIBER_STACK = 256 * 1024;

enum class FiberState { Runnable, AtBarrier, Exited };

struct Worker;

struct Fiber {
#if PDECNN_ASM_FIBERS
    void* sp = nullptr;  // saved stack pointer while switched out
#else
    ucontext_t ctx;
#endif
    dim3 tid;
    FiberState state = FiberState::Runnable;
    const char* site = nullptr;
    void* stack = nullptr;  // mmap'd, lowest page PROT_NONE
    long long warpCollectives = 0;  // warp-wide calls (wmma_host.h) this block, compared across the warp's lanes
    Worker* worker = nullptr;
};

/** One OS thread running blocks; the fibers of the current block, and its shared memory. */
struct Worker {
#if PDECNN_ASM_FIBERS
    void* schedulerSp = nullptr;
#else
    ucontext_t scheduler;
#endif
    std::vector<Fiber> fibers;
    Fiber* current = nullptr;
    dim3 blockIdx;
    const KernelInfo* kernel = nullptr;
    void** args = nullptr;
    unsigned char* dynamicShared = nullptr;
};

inline thread_local Worker* tlWorker = nullptr;
inline dim3 gBlockDim;
inline dim3 gGridDim;

/** Switches from the running fiber to the worker's scheduler. */
inline void toScheduler(Fiber* f) {
#if PDECNN_ASM_FIBERS
    pdecnn_swap(&f->sp, f->worker->schedulerSp);
#else
    swapcontext(&f->ctx, &f->worker->scheduler);
#endif
}

inline void toFiber(Worker& w, Fiber* f) {
#if PDECNN_ASM_FIBERS
    pdecnn_swap(&w.schedulerSp, f->sp);
#else
    swapcontext(&w.scheduler, &f->ctx);
#endif
}

inline void fiberMain(Fiber* f) {
    for (;;) {  // one pass per block this worker runs
        f->worker->kernel->call(f->worker->args);
        f->state = FiberState::Exited;
        toScheduler(f);
    }
}

#if !PDECNN_ASM_FIBERS
inline void fiberEntry(unsigned int lo, unsigned int hi) {
    fiberMain(reinterpret_cast<Fiber*>((static_cast<std::uintptr_t>(hi) << 32) | lo));
}
#endif

inline void syncThreads(const char* site) {
    Fiber* f = tlWorker->current;
    f->state = FiberState::AtBarrier;
    f->site = site;
    toScheduler(f);
}

/**
 * Warp-collective operations (the WMMA fragment calls of wmma_host.h) must be made by all 32 lanes of a warp
 * together: at every barrier and at the block's end, each lane of a warp must have made as many as lane 0, and a
 * block that makes any must consist of whole warps.
 */
inline void checkWarpCollectives(const std::vector<Fiber>& fibers, const char* where) {
    const int nt = static_cast<int>(fibers.size());
    for (int w = 0; w * 32 < nt; w++) {
        const long long n0 = fibers[w * 32].warpCollectives;
        for (int l = 1; l < 32; l++) {
            if (w * 32 + l >= nt) {
                if (n0 > 0) {
                    fatal("warp-collective (wmma) operations in a block of " + std::to_string(nt)
                          + " threads, not a whole number of warps");
                }
                break;
            }
            const long long n = fibers[w * 32 + l].warpCollectives;
            if (n != n0) {
                fatal("divergent warp-collective (wmma) operations before " + std::string(where) + ": lane 0 of warp "
                      + std::to_string(w) + " made " + std::to_string(n0) + ", lane " + std::to_string(l) + " made "
                      + std::to_string(n));
            }
        }
    }
}

/** Runs one block to completion, phase by phase (see the header comment). */
inline void runBlock(Worker& w, dim3 block, std::size_t sharedBytes) {
    const int nt = static_cast<int>(w.fibers.size());
    if (sharedBytes > 0) {
        std::memset(w.dynamicShared, 0xFF, sharedBytes);
    }
    for (Fiber& f : w.fibers) {
        f.state = FiberState::Runnable;
        f.warpCollectives = 0;
    }
    (void)block;
    for (long long phase = 0;; phase++) {
        const bool reverse = phase % 2 == 1;
        for (int i = 0; i < nt; i++) {
            Fiber& f = w.fibers[reverse ? nt - 1 - i : i];
            if (f.state == FiberState::Runnable) {
                w.current = &f;
                toFiber(w, &f);
            }
        }
        int atBarrier = 0, exited = 0;
        const char* site = nullptr;
        for (Fiber& f : w.fibers) {
            if (f.state == FiberState::AtBarrier) {
                if (atBarrier++ == 0) {
                    site = f.site;
                } else if (f.site != site && std::strcmp(f.site, site) != 0) {
                    fatal(std::string("divergent __syncthreads: threads of one block wait at ") + site + " and at "
                          + f.site);
                }
            } else {
                exited++;
            }
        }
        checkWarpCollectives(w.fibers, atBarrier == 0 ? "the end of the block" : site);
        if (atBarrier == 0) {
            return;
        }
        if (exited > 0) {
            fatal(std::string("__syncthreads at ") + site + " waited for " + std::to_string(exited)
                  + " thread(s) that had returned from the kernel (divergent barrier: undefined on a GPU)");
        }
        for (Fiber& f : w.fibers) {
            f.state = FiberState::Runnable;
        }
    }
}

inline int workerCount(long long blocks) {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* e = std::getenv("PDECNN_HOST_WORKERS")) {
        n = std::atoi(e);
    }
    n = n < 1 ? 1 : n;
    return static_cast<int>(blocks < n ? blocks : n);
}

/**
 * Fiber stacks (FIBER_STACK bytes above a PROT_NONE guard page) are kept for reuse across launches: mapping them
 * afresh for every thread of every launch (and faulting their pages in) cost more system time than the kernels
 * themselves take in the training-step tests, which launch thousands of small kernels.
 */
inline std::mutex gStackMutex;
inline std::vector<void*> gStacks;

inline void* acquireStack(long page) {
    {
        std::lock_guard<std::mutex> lock(gStackMutex);
        if (!gStacks.empty()) {
            void* s = gStacks.back();
            gStacks.pop_back();
            return s;
        }
    }
    void* s = mmap(nullptr, FIBER_STACK + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        fatal("cannot map a fiber stack");
    }
    mprotect(s, page, PROT_NONE);
    return s;
}

inline void releaseStack(void* s) {
    std::lock_guard<std::mutex> lock(gStackMutex);
    gStacks.push_back(s);
}

/**
 * Runs a registered kernel over the grid: blocks x-fastest, spread round-robin over the workers; each
 * block's threads are fibers of one worker.
 */
inline void launch(const KernelInfo& k, dim3 grid, dim3 block, std::size_t sharedBytes, void** args) {
    const int nt = static_cast<int>(block.x * block.y * block.z);
    const long long nb = static_cast<long long>(grid.x) * grid.y * grid.z;
    gBlockDim = block;
    gGridDim = grid;
    const int nw = workerCount(nb);
    const long page = sysconf(_SC_PAGESIZE);
    auto work = [&](int wi) {
        Worker w;
        tlWorker = &w;
        w.kernel = &k;
        w.args = args;
        std::vector<unsigned char> shared(sharedBytes + 64);
        unsigned char* base = shared.data();
        base += (64 - reinterpret_cast<std::uintptr_t>(base) % 64) % 64;
        w.dynamicShared = sharedBytes > 0 ? base : nullptr;
        w.fibers.resize(nt);
        for (int t = 0; t < nt; t++) {
            Fiber& f = w.fibers[t];
            f.worker = &w;
            f.tid = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
            f.stack = acquireStack(page);
            char* top = static_cast<char*>(f.stack) + page + FIBER_STACK;
#if PDECNN_ASM_FIBERS
            // Initial frame popped by pdecnn_swap: r15 r14 r13 r12 rbx rbp, then the return address in the
            // top word, so that after its `ret` rsp = top (16-aligned) and the trampoline's call enters
            // fiberMain with rsp = 8 (mod 16), as the ABI requires.
            void** frame = reinterpret_cast<void**>(top - 8) - 6;
            frame[0] = nullptr;
            frame[1] = nullptr;
            frame[2] = reinterpret_cast<void*>(&fiberMain);  // r13: the function
            frame[3] = &f;                                   // r12: its argument
            frame[4] = nullptr;
            frame[5] = nullptr;
            frame[6] = reinterpret_cast<void*>(&pdecnn_fiber_start);
            f.sp = frame;
#else
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = static_cast<char*>(f.stack) + page;
            f.ctx.uc_stack.ss_size = FIBER_STACK;
            f.ctx.uc_link = nullptr;
            auto ptr = reinterpret_cast<std::uintptr_t>(&f);
            makecontext(&f.ctx, reinterpret_cast<void (*)()>(&fiberEntry), 2,
                        static_cast<unsigned int>(ptr & 0xffffffffu), static_cast<unsigned int>(ptr >> 32));
#endif
            (void)top;
        }
        for (long long b = wi; b < nb; b += nw) {
            w.blockIdx = dim3(static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                              static_cast<unsigned>(b / (static_cast<long long>(grid.x) * grid.y)));
            runBlock(w, block, sharedBytes);
        }
        for (Fiber& f : w.fibers) {
            releaseStack(f.stack);
        }
        tlWorker = nullptr;
    };
    if (nw == 1) {
        work(0);
        return;
    }
    std::vector<std::thread> threads;
    for (int wi = 0; wi < nw; wi++) {
        threads.emplace_back(work, wi);
    }
    for (auto& th : threads) {
        th.join();
    }
}

template <class T>
inline T atomicAddImpl(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
}

}  // namespace cuda_emu

#define PDECNN_STR2(x) #x
#define PDECNN_STR(x) PDECNN_STR2(x)

#define threadIdx (::cuda_emu::tlWorker->current->tid)
#define blockIdx (::cuda_emu::tlWorker->blockIdx)
#define blockDim (::cuda_emu::gBlockDim)
#define gridDim (::cuda_emu::gGridDim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __restrict__ __restrict
#define __syncthreads() ::cuda_emu::syncThreads(__FILE__ ":" PDECNN_STR(__LINE__))

template <class T>
inline T atomicAdd(T* p, T v) {
    return ::cuda_emu::atomicAddImpl(p, v);
}

inline float rsqrtf(float x) {
    return 1.0f / std::sqrt(x);
}
inline double rsqrt(double x) {
    return 1.0 / std::sqrt(x);
}
using std::exp;
using std::log;
using std::sqrt;
using std::fabs;

/** Dynamic shared memory as a pointer of the given type (extern __shared__ on a GPU). */
#define PDECNN_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::cuda_emu::tlWorker->dynamicShared)

/** Makes a kernel launchable by name from the host driver (no effect under nvcc). */
#define PDECNN_REGISTER(name) static ::cuda_emu::Registrar pdecnn_registrar_##name(#name, &name);
