// pdecnn-host: a stand-in for a GPU, driven over stdin/stdout by dev.pdecnn.backend.cuda.HostKernelRunner.
// It holds "device" buffers and launches the kernels of src/main/cuda, compiled for the CPU with the
// emulation of cuda_host.h, with the grid, block and shared-memory sizes the Java launcher chose.
//
// Protocol (little-endian). Each request is one command byte and its payload; each reply is a status byte
// (0 ok, 1 error followed by u32 length + UTF-8 message) and, when ok, the command's result.
//   'A' u64 bytes                         -> u64 address       allocate (contents poisoned with 0xFF)
//   'F' u64 address                       ->                   free
//   'W' u64 address, u64 n, n bytes       ->                   host to device
//   'R' u64 address, u64 n                -> n bytes           device to host
//   'Z' u64 address, u64 n                ->                   set n bytes to zero
//   'L' u16 len, name, u32 grid[3], u32 block[3], u32 shared, u32 nargs, nargs x (u8 tag, 8-byte value)
//                                         -> u64 nanoseconds   launch and wait
//   'K'                                   -> u32 n, n x (u16 len, name, u16 len, signature)
//   'Q'                                   -> (exits)
// Tags: P pointer (u64), I int (low 4 bytes), J long long, F float (low 4 bytes), D double.
// Every buffer carries 64 guard bytes on each side; they are checked after each launch, so a kernel that
// writes out of bounds fails its launch instead of corrupting memory silently. Pointer arguments must be null
// or point into a live buffer.
#include "cuda_host.h"

#include <chrono>
#include <cinttypes>

namespace cuda_emu {
[[noreturn]] void fatal(const std::string& message) {
    std::fprintf(stderr, "pdecnn-host: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(3);
}
}  // namespace cuda_emu

namespace {

constexpr std::size_t GUARD = 64;
constexpr unsigned char GUARD_BYTE = 0xA5;

struct Buffer {
    unsigned char* raw;
    std::size_t bytes;
};

std::map<std::uintptr_t, Buffer> buffers;  // keyed by the address handed out

struct Error {
    std::string message;
};

void readExact(void* dst, std::size_t n) {
    if (n > 0 && std::fread(dst, 1, n, stdin) != n) {
        std::exit(0);  // the controlling process went away
    }
}

template <class T>
T read() {
    T v;
    readExact(&v, sizeof v);
    return v;
}

void writeBytes(const void* p, std::size_t n) {
    if (n > 0 && std::fwrite(p, 1, n, stdout) != n) {
        std::exit(0);
    }
}

template <class T>
void write(T v) {
    writeBytes(&v, sizeof v);
}

void ok() {
    write<std::uint8_t>(0);
}

void fail(const std::string& message) {
    write<std::uint8_t>(1);
    write<std::uint32_t>(static_cast<std::uint32_t>(message.size()));
    writeBytes(message.data(), message.size());
    std::fflush(stdout);
}

/** The buffer containing [address, address + n), or throws. */
Buffer& owning(std::uint64_t address, std::uint64_t n, const char* what) {
    auto it = buffers.upper_bound(static_cast<std::uintptr_t>(address));
    if (it != buffers.begin()) {
        --it;
        std::uintptr_t start = it->first;
        if (address >= start && address + n <= start + it->second.bytes) {
            return it->second;
        }
    }
    char msg[160];
    std::snprintf(msg, sizeof msg, "%s: [0x%" PRIx64 ", +%" PRIu64 ") is not inside a live buffer", what, address, n);
    throw Error{msg};
}

void checkGuards(const std::string& kernel) {
    for (auto& [address, b] : buffers) {
        for (std::size_t i = 0; i < GUARD; i++) {
            if (b.raw[i] != GUARD_BYTE || b.raw[GUARD + b.bytes + i] != GUARD_BYTE) {
                char msg[200];
                std::snprintf(msg, sizeof msg, "kernel %s wrote outside the %zu-byte buffer at 0x%" PRIxPTR " (%s guard)",
                              kernel.c_str(), b.bytes, address, b.raw[i] != GUARD_BYTE ? "front" : "back");
                std::memset(b.raw, GUARD_BYTE, GUARD);
                std::memset(b.raw + GUARD + b.bytes, GUARD_BYTE, GUARD);
                throw Error{msg};
            }
        }
    }
}

void launch() {
    auto len = read<std::uint16_t>();
    std::string name(len, '\0');
    readExact(name.data(), len);
    std::uint32_t g[3], b[3];
    for (auto& x : g) x = read<std::uint32_t>();
    for (auto& x : b) x = read<std::uint32_t>();
    auto shared = read<std::uint32_t>();
    auto nargs = read<std::uint32_t>();
    std::vector<char> tags(nargs);
    std::vector<std::uint64_t> values(nargs);
    for (std::uint32_t i = 0; i < nargs; i++) {
        tags[i] = static_cast<char>(read<std::uint8_t>());
        values[i] = read<std::uint64_t>();
    }
    auto it = cuda_emu::registry().find(name);
    if (it == cuda_emu::registry().end()) {
        throw Error{"no kernel named " + name};
    }
    const cuda_emu::KernelInfo& k = it->second;
    std::string passed(tags.begin(), tags.end());
    if (passed != k.signature) {
        throw Error{"kernel " + name + " takes (" + k.signature + ") but the launch passed (" + passed + ")"};
    }
    if (g[0] == 0 || g[1] == 0 || g[2] == 0 || b[0] == 0 || b[1] == 0 || b[2] == 0) {
        throw Error{"kernel " + name + ": empty grid or block"};
    }
    if (static_cast<std::uint64_t>(b[0]) * b[1] * b[2] > 1024 || b[2] > 64 || g[1] > 65535 || g[2] > 65535) {
        throw Error{"kernel " + name + ": block or grid beyond CUDA's limits"};
    }
    if (shared > 227 * 1024) {
        throw Error{"kernel " + name + ": " + std::to_string(shared) + " bytes of shared memory exceed 227 KiB"};
    }
    std::vector<void*> args(nargs);
    std::vector<std::uint64_t> storage(values);
    for (std::uint32_t i = 0; i < nargs; i++) {
        if (tags[i] == 'P' && storage[i] != 0) {
            owning(storage[i], 0, ("kernel " + name + " argument " + std::to_string(i)).c_str());
        }
        args[i] = &storage[i];  // little-endian: int and float sit in the low bytes
    }
    auto t0 = std::chrono::steady_clock::now();
    cuda_emu::launch(k, dim3(g[0], g[1], g[2]), dim3(b[0], b[1], b[2]), shared, args.data());
    auto t1 = std::chrono::steady_clock::now();
    checkGuards(name);
    ok();
    write<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOFBF, 1 << 16);
    for (;;) {
        int cmd = std::fgetc(stdin);
        if (cmd == EOF || cmd == 'Q') {
            return 0;
        }
        try {
            switch (cmd) {
                case 'A': {
                    auto bytes = read<std::uint64_t>();
                    auto* raw = static_cast<unsigned char*>(std::aligned_alloc(64, ((bytes + 2 * GUARD + 63) / 64) * 64));
                    if (raw == nullptr) {
                        throw Error{"out of host memory allocating " + std::to_string(bytes) + " bytes"};
                    }
                    std::memset(raw, GUARD_BYTE, GUARD);
                    std::memset(raw + GUARD, 0xFF, bytes);
                    std::memset(raw + GUARD + bytes, GUARD_BYTE, GUARD);
                    auto address = reinterpret_cast<std::uintptr_t>(raw + GUARD);
                    buffers[address] = Buffer{raw, bytes};
                    ok();
                    write<std::uint64_t>(address);
                    break;
                }
                case 'F': {
                    auto address = read<std::uint64_t>();
                    auto it = buffers.find(address);
                    if (it == buffers.end()) {
                        throw Error{"free of an address that is not a live buffer"};
                    }
                    std::free(it->second.raw);
                    buffers.erase(it);
                    ok();
                    break;
                }
                case 'W': {
                    auto address = read<std::uint64_t>();
                    auto n = read<std::uint64_t>();
                    std::vector<unsigned char> data(n);
                    readExact(data.data(), n);
                    owning(address, n, "write");
                    std::memcpy(reinterpret_cast<void*>(address), data.data(), n);
                    ok();
                    break;
                }
                case 'R': {
                    auto address = read<std::uint64_t>();
                    auto n = read<std::uint64_t>();
                    owning(address, n, "read");
                    ok();
                    writeBytes(reinterpret_cast<void*>(address), n);
                    break;
                }
                case 'Z': {
                    auto address = read<std::uint64_t>();
                    auto n = read<std::uint64_t>();
                    owning(address, n, "memset");
                    std::memset(reinterpret_cast<void*>(address), 0, n);
                    ok();
                    break;
                }
                case 'L':
                    launch();
                    break;
                case 'K': {
                    ok();
                    write<std::uint32_t>(static_cast<std::uint32_t>(cuda_emu::registry().size()));
                    for (auto& [name, info] : cuda_emu::registry()) {
                        write<std::uint16_t>(static_cast<std::uint16_t>(name.size()));
                        writeBytes(name.data(), name.size());
                        write<std::uint16_t>(static_cast<std::uint16_t>(info.signature.size()));
                        writeBytes(info.signature.data(), info.signature.size());
                    }
                    break;
                }
                default:
                    fail("unknown command " + std::to_string(cmd));
                    return 2;
            }
        } catch (const Error& e) {
            fail(e.message);
            continue;
        }
        std::fflush(stdout);
    }
}
