package dev.pdecnn.cli;

import dev.pdecnn.Settings;
import dev.pdecnn.UserException;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.GpuInfo;
import dev.pdecnn.backend.cuda.Gpus;
import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.backend.cuda.KernelModules;
import dev.pdecnn.backend.cuda.KernelPath;
import dev.pdecnn.config.Choices.MatmulPrecision;
import dev.pdecnn.run.Devices;
import dev.pdecnn.selfcheck.DeviceCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.io.PrintStream;
import java.nio.file.Files;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code devices}: the GPUs this machine offers for {@code --device N} (name, compute capability, memory total and
 * free) and which path the kernels take on each (SASS for its architecture, or the driver's JIT of the PTX), the
 * driver, whether cuDNN / cuBLAS / cuRAND load, the kernels in the jar, whether the emulated device
 * is available, and the {@link Settings} set. Exit code 0 also when there is no GPU: that is an answer, printed with its reason.
 */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = {"Lists the GPUs usable with --device N: memory, driver, compute capability, and which of "
                + "cuDNN 8 / cuBLAS 11 / cuRAND 10 load. Without a GPU it says why (no driver, no device).",
                "With --check: checks that a GPU computes what the CPU computes (every kernel family, a training "
                        + "step of a plain and two condensed networks, CUDA graphs, TF32), one line per check and a "
                        + "verdict; exit code 0 when all pass, 1 when one does not, 2 when the device cannot be opened."})
final class DevicesCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--check", description = "Run the device self-check on the device --device names (about 10 s "
            + "on a GPU, a few minutes on the emulated device).")
    boolean check;

    @Option(names = "--device", paramLabel = "N|emulated", description = "With --check: the GPU number to check, or "
            + "emulated (the host build of the kernels; needs the project's src/main/cuda and g++). Default: 0.")
    String device;

    @Override
    public Integer call() {
        if (check) {
            return check(device == null ? "0" : device.strip());
        }
        if (device != null) {
            throw new UserException("--device applies to --check only (devices --check --device " + device.strip() + ")");
        }
        PrintStream out = main.out;
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
        printSettings(out);
        return 0;
    }

    /** The settings set in this JVM (docs/settings.md lists them all), so a report shows what was switched. */
    static void printSettings(PrintStream out) {
        List<Settings.Value> set = Settings.inEffect();
        out.println(set.isEmpty() ? "settings: all at their defaults (docs/settings.md lists them)"
                : "settings (docs/settings.md lists them all):");
        for (Settings.Value v : set) {
            out.println("  " + v.describe());
        }
    }

    /** {@code devices --check}: exit 0 when every check passed, 1 when one did not. */
    private int check(String d) {
        if (!d.equals("emulated") && !d.matches("\\d{1,4}")) {
            throw new UserException("--device '" + d + "': --check compares a GPU with the CPU; name a GPU number "
                    + "(see 'devices') or emulated");
        }
        Devices.Opened o;
        try {
            o = Devices.open(d, MatmulPrecision.FP32, main.out);
        } catch (UserException e) {
            throw new UserException(e.getMessage().replace("; use --device cpu (or auto)", "") + (d.equals("emulated")
                    ? "" : "; without a GPU, 'devices --check --device emulated' checks the kernels on the host emulation"));
        }
        try (o) {
            return DeviceCheck.on(o.device(), main.out).runAll() ? 0 : 1;
        }
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
        try (var r = dev.pdecnn.backend.cuda.JCudaKernelRunner.open(g.ordinal())) {
            return DeviceMemory.bytes(r.memoryInfo()[0]);
        } catch (RuntimeException e) {
            return "?";
        }
    }
}
