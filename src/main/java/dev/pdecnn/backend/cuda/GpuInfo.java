package dev.pdecnn.backend.cuda;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the driver says about this machine's GPUs and NVIDIA libraries, as plain values ({@link Gpus} asks for them
 * once per JVM; {@link JCudaKernelRunner} fills them in), and how a native-library failure reads on one line.
 */
public final class GpuInfo {
    public static final String JCUDA_VERSION = "11.7.0";

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

    private GpuInfo() {
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
