package dev.pdecnn.backend.cuda;

import java.util.Map;
import java.util.TreeMap;

/**
 * Which code of a module's fatbin the CUDA driver runs on a GPU, decided the way the driver decides: SASS built
 * for sm_XY runs on GPUs of the same major version and a minor version of at least Y (sm_80 SASS runs on an
 * sm_86 or sm_87 GPU, never on sm_90), and the driver takes the newest such SASS; without one, it JIT-compiles
 * the newest embedded PTX whose virtual architecture is not above the GPU's (the fatbins hold compute_70 and
 * compute_80: compute_80 for sm_100 and sm_120). PTX ISA 7.8 needs a driver of CUDA 11.8 (r520) or later; see
 * docs/gpu.md for the table of GPUs and drivers.
 */
public final class KernelPath {
    /** Set to 1 to load every module from its .ptx file (the driver JIT-compiles it) instead of the fatbin. */
    public static final String FORCE_PTX_ENV = "PDECNN_CUDA_FORCE_PTX";
    /** The virtual architecture of the separate .ptx modules (the fatbin's fallback, and the forced path). */
    public static final int PTX_MODULE_ARCH = 70;

    private KernelPath() {
    }

    /**
     * The path for a GPU of compute capability {@code major.minor}: "SASS sm_XY", "PTX JIT (compute_70)", or
     * "none: ..." when neither fits (a GPU older than the PTX's architecture).
     */
    public static String choose(int major, int minor, Fatbin fatbin, boolean forcePtx) {
        int arch = arch(major, minor, fatbin, forcePtx);
        if (arch > 0) {
            return "SASS sm_" + arch;
        }
        if (arch < 0) {
            return "PTX JIT (compute_" + -arch + (forcePtx ? ", forced by " + FORCE_PTX_ENV + "=1)" : ")");
        }
        int oldest = fatbin.ptx().isEmpty() ? -1 : java.util.Collections.min(fatbin.ptx());
        return "none: the kernels need compute capability " + (oldest < 0 ? "?" : oldest / 10 + "." + oldest % 10)
                + " or later";
    }

    /**
     * The code the driver runs: the SASS architecture (positive, e.g. 90), minus the PTX's virtual architecture
     * it JIT-compiles (e.g. -80), or 0 for none. Forced, it is the .ptx module's ({@value #PTX_MODULE_ARCH}).
     */
    static int arch(int major, int minor, Fatbin fatbin, boolean forcePtx) {
        int cc = major * 10 + minor;
        if (forcePtx) {
            return cc >= PTX_MODULE_ARCH ? -PTX_MODULE_ARCH : 0;
        }
        int sass = 0, ptx = 0;
        for (int a : fatbin.sass()) {
            if (a / 10 == major && a <= cc) {
                sass = Math.max(sass, a);
            }
        }
        for (int a : fatbin.ptx()) {
            if (a <= cc) {
                ptx = Math.max(ptx, a);
            }
        }
        return sass > 0 ? sass : -ptx;
    }

    /**
     * Whether the TF32 kernels of a module run on tensor cores on this GPU: compute capability 8.0 or later and the
     * driver running code built for sm_80 or later, SASS or the compute_80 PTX (sm_100, sm_120). PTX for
     * compute_70 (the forced path, or a fatbin without compute_80) carries only the fp32 fallback body of those
     * kernels (gemm_tf32.cuh), so such a GPU must use the fp32 kernels.
     */
    public static boolean tf32TensorCores(int major, int minor, Fatbin fatbin, boolean forcePtx) {
        return major >= 8 && Math.abs(arch(major, minor, fatbin, forcePtx)) >= 80;
    }

    /** Whether {@value #FORCE_PTX_ENV} (or -Dpdecnn.cuda.forcePtx) is on: see {@link dev.pdecnn.Settings}. */
    public static boolean forcePtx() {
        return dev.pdecnn.Settings.CUDA_FORCE_PTX.flag(false);
    }

    /**
     * One line for a GPU: the path of each module, grouped ("SASS sm_90 (batchnorm, conv, ...)"); the modules of
     * one build normally share one path.
     */
    public static String describe(int major, int minor, KernelModules kernels, boolean forcePtx) {
        Map<String, StringBuilder> byPath = new TreeMap<>();
        for (String m : kernels.modules()) {
            String p = choose(major, minor, Fatbin.parse(kernels.fatbin(m)), forcePtx);
            StringBuilder b = byPath.computeIfAbsent(p, k -> new StringBuilder());
            b.append(b.length() == 0 ? "" : ", ").append(m);
        }
        StringBuilder s = new StringBuilder();
        byPath.forEach((p, ms) -> s.append(s.length() == 0 ? "" : "; ").append(p).append(" (").append(ms).append(')'));
        return s.toString();
    }
}
