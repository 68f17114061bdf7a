package dev.pdecnn.sweep;

import dev.pdecnn.UserException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The memory a Slurm task or Kubernetes pod asks for one cell ({@code sweep run --mem}), and the heap its JVM gets
 * from it. Without a request, a Slurm node without a default memory per CPU gives every array task the whole node,
 * so the tasks run one at a time; and a JVM in a memory-limited cgroup would default to a quarter of it, below
 * what a ResNet's training takes (about 1-1.5 GB of heap, docs/benchmarks.md).
 */
public final class CellMemory {
    /** Enough for the study's models at batch 128 on a CPU (heap 3 GB). */
    public static final String DEFAULT = "4G";
    /** The heap's share of the request; the rest is the JVM's own (code, threads, metaspace, buffers). */
    private static final int HEAP_PERCENT = 75;

    private CellMemory() {
    }

    /** MiB of a Slurm-style size: a whole number with K, M (the default unit), G or T; at least 256M. */
    public static long mib(String mem) {
        if (mem == null || !mem.matches("[1-9][0-9]{0,6}[KMGTkmgt]?")) {
            throw new UserException("--mem must be a size such as 4G, 16G or 8192M, got '" + mem + "'");
        }
        char unit = Character.toUpperCase(mem.charAt(mem.length() - 1));
        long n = Long.parseLong(Character.isDigit(unit) ? mem : mem.substring(0, mem.length() - 1));
        long mib = switch (unit) {
            case 'K' -> n / 1024;
            case 'G' -> n << 10;
            case 'T' -> n << 20;
            default -> n;
        };
        if (mib < 256) {
            throw new UserException("--mem must be at least 256M (a cell's JVM needs it), got '" + mem + "'");
        }
        return mib;
    }

    /** The cells' JVM arguments: the user's, plus -Xmx of 75% of the request unless they set the heap themselves. */
    public static List<String> jvmArgs(List<String> user, String mem) {
        List<String> out = new ArrayList<>(user);
        boolean ownHeap = user.stream().anyMatch(a -> a.startsWith("-Xmx") || a.startsWith("-XX:MaxHeapSize")
                || a.startsWith("-XX:MaxRAM"));
        if (!ownHeap) {
            out.add("-Xmx" + mib(mem) * HEAP_PERCENT / 100 + "m");
        }
        return out;
    }

    /** The request in Slurm's notation (as given, unit upper-case). */
    static String slurm(String mem) {
        mib(mem);
        return mem.toUpperCase(Locale.ROOT);
    }

    /** The request in Kubernetes' notation (binary units, as Slurm's are): 4G -> 4Gi, 512 -> 512Mi. */
    static String kubernetes(String mem) {
        String m = slurm(mem);
        char unit = m.charAt(m.length() - 1);
        return Character.isDigit(unit) ? m + "Mi" : m + "i";
    }
}
