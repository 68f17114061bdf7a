package dev.pdecnn.backend.open;

import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.GpuInfo;
import dev.pdecnn.backend.cuda.Gpus;
import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.backend.cuda.JCudaKernelRunner;
import dev.pdecnn.backend.cuda.KernelModules;
import dev.pdecnn.backend.cuda.KernelPath;

import java.io.PrintStream;
import java.nio.file.Files;
import java.util.Locale;

/**
 * What this machine offers for {@link DeviceFactory#open}, as the {@code devices} command prints it: the GPUs
 * (name, compute capability, memory total and free, which path the kernels take on each: SASS for its architecture
 * or the driver's JIT of the PTX, and whether TF32 tensor cores run), the driver, whether cuDNN / cuBLAS / cuRAND
 * load, the kernels in the jar, and whether the emulated device is available. Without a GPU it says why.
 */
public final class DeviceList {
    private DeviceList() {
    }

    /** Prints the listing to {@code out}, one fact a line. */
    public static void print(PrintStream out) {
        GpuInfo.Probe p = Gpus.probe();
        out.println("JCuda " + GpuInfo.JCUDA_VERSION + " (CUDA driver API)");
        if (p.reason() != null) {
            out.println("no CUDA GPU: " + p.reason());
            out.println("  --device auto trains on the CPU here; --device N fails");
        } else {
            out.printf(Locale.ROOT, "driver: CUDA %s (driver API version %d)%n", p.driverCuda(), p.driverVersion());
            if (p.gpus().isEmpty()) {
                out.println("no CUDA GPU: " + p.gpuList());
            }
            for (GpuInfo.Gpu g : p.gpus()) {
                out.printf(Locale.ROOT, "%s, %s free, up to %s shared memory per block  (--device %d)%n", g.describe(),
                        freeMemory(g), DeviceMemory.bytes(g.maxSharedPerBlock()), g.ordinal());
                out.println("  kernels: " + kernelPaths(g));
                out.println("  precision: " + precision(g));
            }
        }
        out.println("libraries (optional: every operation runs on the trainer's own CUDA kernels):");
        for (GpuInfo.Library l : Gpus.libraries()) {
            out.printf(Locale.ROOT, "  %-9s %-16s %s%n", l.name(), l.soname(), l.loaded() ? l.detail() : "not loaded: "
                    + l.detail());
        }
        try {
            KernelModules k = KernelModules.load();
            out.printf(Locale.ROOT, "kernels: %d modules (%s), built by %s%n", k.modules().size(),
                    String.join(", ", k.modules()), k.get("nvcc"));
        } catch (RuntimeException e) {
            out.println("kernels: missing from the jar (" + e.getMessage() + ")");
        }
        boolean sources = Files.isRegularFile(HostBuild.sourceDir().resolve("host/driver.cpp"));
        out.println("emulated device (--device emulated, for tests): " + (sources
                ? "kernel sources at " + HostBuild.sourceDir() + ", compiled with g++ on first use"
                : "unavailable (needs the project's src/main/cuda and g++)"));
    }

    /**
     * Which code of the committed fatbins the driver runs on this GPU, per module: "SASS sm_XY" when a fatbin has
     * SASS for the GPU's architecture, else "PTX JIT (compute_80)" (the newest PTX that fits) (see {@link KernelPath}).
     */
    static String kernelPaths(GpuInfo.Gpu g) {
        try {
            return KernelPath.describe(g.ccMajor(), g.ccMinor(), KernelModules.load(), KernelPath.forcePtx());
        } catch (RuntimeException e) {
            return "? (" + e.getMessage() + ")";
        }
    }

    /** Whether TF32 tensor cores run here (sm_80+ through SASS), and so the default of --precision. */
    static String precision(GpuInfo.Gpu g) {
        try {
            boolean tf32 = KernelPath.tf32TensorCores(g.ccMajor(), g.ccMinor(), KernelModules.load().fatbinContents("conv"),
                    KernelPath.forcePtx());
            return tf32 ? "TF32 tensor cores with --precision tf32 (default fp32 until a GPU check has verified them)"
                    : "fp32 only (no TF32 tensor-core code for this GPU in the kernels)";
        } catch (RuntimeException e) {
            return "? (" + e.getMessage() + ")";
        }
    }

    /** Free memory of a GPU (a short-lived context on it); "?" when it cannot be asked. */
    private static String freeMemory(GpuInfo.Gpu g) {
        try (var r = JCudaKernelRunner.open(g.ordinal())) {
            return DeviceMemory.bytes(r.memoryInfo()[0]);
        } catch (RuntimeException e) {
            return "?";
        }
    }
}
