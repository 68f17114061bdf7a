package dev.pdecnn.backend.cuda;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What this machine offers for GPU training, found through JCuda (by reflection, so nothing of JCuda loads
 * until this is asked): the driver, its GPUs, and whether the optional NVIDIA libraries that JCuda 11.7.0 binds
 * (cuBLAS 11, cuDNN 8, cuRAND 10) load. Every answer is computed once per JVM and kept: a native library that
 * failed to load cannot be retried, so the first reason is the one worth reporting.
 */
public final class Gpus {
    public static final String JCUDA_VERSION = "11.7.0";
    private static final int ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76, ATTR_SHARED_OPTIN = 97;

    /** A GPU as the driver reports it. */
    public record Gpu(int ordinal, String name, int ccMajor, int ccMinor, long totalBytes, int maxSharedPerBlock) {
        public String describe() {
            return String.format(Locale.ROOT, "GPU %d: %s, sm_%d%d, %s", ordinal, name, ccMajor, ccMinor,
                    DeviceMemory.bytes(totalBytes));
        }
    }

    /**
     * The driver and its GPUs; {@code reason} non-null when the driver cannot be used at all (JCuda missing, no
     * libcuda.so.1, cuInit failed), then {@code gpus} is empty.
     */
    public record Probe(String reason, int driverVersion, List<Gpu> gpus) {
        /** "CUDA 13.0" from the driver API version (13000). */
        public String driverCuda() {
            return driverVersion <= 0 ? "?" : driverVersion / 1000 + "." + driverVersion % 1000 / 10;
        }

        /** "2 GPUs (0: NVIDIA H100 ..., 1: ...)" or "the driver reports no GPU". */
        public String gpuList() {
            if (gpus.isEmpty()) {
                return "the CUDA driver reports no GPU";
            }
            StringBuilder b = new StringBuilder("this machine has " + gpus.size() + (gpus.size() == 1 ? " GPU" : " GPUs") + " (");
            for (int i = 0; i < gpus.size(); i++) {
                b.append(i == 0 ? "" : ", ").append(i).append(": ").append(gpus.get(i).name());
            }
            return b.append(')').toString();
        }
    }

    /** An optional NVIDIA library: loaded (with its version when known) or why not. */
    public record Library(String name, String soname, boolean loaded, String detail) {
    }

    private static Probe probe;
    private static List<Library> libraries;

    private Gpus() {
    }

    /** The driver and its GPUs (computed once). */
    public static synchronized Probe probe() {
        if (probe == null) {
            probe = doProbe();
        }
        return probe;
    }

    private static Probe doProbe() {
        JCudaKernelRunner.Api api;
        try {
            api = JCudaKernelRunner.api();
        } catch (KernelException e) {
            return new Probe(e.getMessage(), 0, List.of());
        }
        int[] v = new int[1];
        try {
            api.call(api.init, null, 0);
        } catch (KernelException e) {
            return new Probe("the NVIDIA driver is present but cuInit failed: " + firstLine(e.getMessage()), 0, List.of());
        }
        int driver = 0;
        try {
            api.call(api.driverGetVersion, null, (Object) v);
            driver = v[0];
            api.call(api.deviceGetCount, null, (Object) v);
        } catch (KernelException e) {
            return new Probe("the CUDA driver failed: " + firstLine(e.getMessage()), driver, List.of());
        }
        List<Gpu> gpus = new ArrayList<>();
        for (int i = 0, n = v[0]; i < n; i++) {
            Object dev = api.newInstance(api.device);
            api.call(api.deviceGet, null, dev, i);
            byte[] nameBuf = new byte[256];
            api.call(api.deviceGetName, null, nameBuf, nameBuf.length, dev);
            int len = 0;
            while (len < nameBuf.length && nameBuf[len] != 0) {
                len++;
            }
            int[] a = new int[1];
            api.call(api.deviceGetAttribute, null, a, ATTR_CC_MAJOR, dev);
            int major = a[0];
            api.call(api.deviceGetAttribute, null, a, ATTR_CC_MINOR, dev);
            int minor = a[0];
            api.call(api.deviceGetAttribute, null, a, ATTR_SHARED_OPTIN, dev);
            int shared = a[0];
            long[] total = new long[1];
            api.call(api.deviceTotalMem, null, total, dev);
            gpus.add(new Gpu(i, new String(nameBuf, 0, len, StandardCharsets.UTF_8), major, minor, total[0], shared));
        }
        return new Probe(null, driver, List.copyOf(gpus));
    }

    /**
     * cuBLAS 11, cuDNN 8 and cuRAND 10 through JCublas2, JCudnn and JCurand: whether their native libraries load
     * (computed once). This version runs its own kernels for every operation either way.
     */
    public static synchronized List<Library> libraries() {
        if (libraries == null) {
            libraries = List.of(
                    library("cuBLAS 11", "libcublas.so.11", "jcuda.jcublas.JCublas2", null),
                    library("cuDNN 8", "libcudnn.so.8", "jcuda.jcudnn.JCudnn", "cudnnGetVersion"),
                    library("cuRAND 10", "libcurand.so.10", "jcuda.jcurand.JCurand", "curandGetVersion"));
        }
        return libraries;
    }

    private static Library library(String name, String soname, String cls, String versionMethod) {
        try {
            Class<?> c = Class.forName(cls, true, Gpus.class.getClassLoader());
            String detail = "loaded";
            if (versionMethod != null) {
                try {
                    if (versionMethod.equals("cudnnGetVersion")) {
                        long ver = (Long) c.getMethod(versionMethod).invoke(null);
                        detail = "loaded, version " + ver / 1000 + "." + ver % 1000 / 100 + "." + ver % 100;
                    } else {
                        int[] ver = new int[1];
                        c.getMethod(versionMethod, int[].class).invoke(null, (Object) ver);
                        detail = "loaded, version " + ver[0] / 1000 + "." + ver[0] % 1000 / 100 + "." + ver[0] % 100;
                    }
                } catch (ReflectiveOperationException | RuntimeException | LinkageError ignored) {
                    // the version is a nicety
                }
            }
            return new Library(name, soname, true, detail);
        } catch (ClassNotFoundException e) {
            return new Library(name, soname, false, "JCuda binding " + cls + " is not on the classpath");
        } catch (LinkageError e) {
            return new Library(name, soname, false, nativeReason(e));
        }
    }

    private static final Pattern MISSING_SO = Pattern.compile("([\\w.+-]+\\.so(?:\\.\\d+)*): cannot open shared object file");
    private static final Pattern ANY_SO = Pattern.compile("(/\\S+\\.so\\S*): ([^\\n]+)");

    /**
     * The useful part of a native-library load failure, on one line: "libcuda.so.1 not found" rather than the
     * nested stack traces JCuda's loader puts into its message.
     */
    public static String nativeReason(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m == null) {
                continue;
            }
            Matcher missing = MISSING_SO.matcher(m);
            if (missing.find()) {
                return missing.group(1) + " not found";
            }
            Matcher any = ANY_SO.matcher(m);
            if (any.find()) {
                return any.group(1).replaceAll(".*/", "") + ": " + any.group(2).strip();
            }
        }
        return firstLine(String.valueOf(e.getMessage() != null ? e.getMessage() : e));
    }

    static String firstLine(String s) {
        String t = s == null ? "" : s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl).strip();
    }
}
