package dev.pdecnn.backend.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launch constants live twice, as {@code #define}s in the kernel sources and as Java constants in their
 * launchers; this test keeps them in step. It reads every integer {@code #define} (and {@code constexpr}) of
 * src/main/cuda/*.cu and *.cuh: each must either be paired with the Java constant that must equal it, or be
 * listed as used only inside the kernels. A new constant in a kernel source therefore fails here until someone
 * decides which it is.
 */
class LaunchConstantsTest {
    /** The constants both sides rely on: the kernel source's name, and the launcher's value. */
    static final Map<String, Integer> SHARED = Map.of(
            "PDECNN_THREADS", Launcher.THREADS,
            "PDECNN_REDUCE_MAX_THREADS", Launcher.REDUCE_MAX_THREADS,
            "GEMM_BM", Gemm.TILE_M,
            "GEMM_BN", Gemm.TILE_N,
            "GEMM_THREADS", Gemm.THREADS,
            "PDE_RMAX", PdeKernels.RMAX,
            "PDE_MAX_THREADS", PdeKernels.MAX_THREADS,
            "PDE_FWD_SHARED_PLANES", PdeKernels.FWD_SHARED_PLANES,
            "PDE_BWD_SHARED_FIXED_PLANES", PdeKernels.BWD_SHARED_FIXED_PLANES,
            "TF32_THREADS", Tf32Gemm.THREADS);

    /** Integer constants only the kernels use: the depth of a GEMM k-slab does not change any launch. */
    static final Set<String> KERNEL_ONLY = Set.of("GEMM_BK", "TF32_BK");

    private static final Pattern DEFINE = Pattern.compile("^\\s*#\\s*define\\s+(\\w+)\\s+\\(?\\s*(\\d+)\\s*\\)?\\s*(?://.*)?$",
            Pattern.MULTILINE);
    private static final Pattern CONSTEXPR = Pattern.compile(
            "^\\s*(?:static\\s+)?constexpr\\s+(?:unsigned\\s+)?(?:int|long|size_t|std::size_t)\\s+(\\w+)\\s*=\\s*(\\d+)\\s*;",
            Pattern.MULTILINE);

    /** Name -> value of every integer constant of the nvcc inputs (not the host emulation's own files). */
    static Map<String, Integer> sourceConstants() throws IOException {
        Map<String, Integer> found = new TreeMap<>();
        List<Path> sources;
        try (Stream<Path> s = Files.list(HostBuild.sourceDir())) {
            sources = s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).sorted().toList();
        }
        assertTrue(sources.size() >= 8, "kernel sources found in " + HostBuild.sourceDir() + ": " + sources);
        for (Path p : sources) {
            String text = Files.readString(p);
            for (Pattern pattern : List.of(DEFINE, CONSTEXPR)) {
                Matcher m = pattern.matcher(text);
                while (m.find()) {
                    Integer before = found.put(m.group(1), Integer.parseInt(m.group(2)));
                    assertEquals(null, before, m.group(1) + " is defined twice (again in " + p.getFileName() + ")");
                }
            }
        }
        return found;
    }

    @Test
    void everyKernelConstantIsPairedOrKernelOnly() throws IOException {
        Map<String, Integer> found = sourceConstants();
        Set<String> unclaimed = new TreeSet<>(found.keySet());
        unclaimed.removeAll(SHARED.keySet());
        unclaimed.removeAll(KERNEL_ONLY);
        assertEquals(Set.of(), unclaimed, "integer constants of the kernel sources that no launcher pairs with a Java "
                + "constant (add them to SHARED, or to KERNEL_ONLY if no launch depends on them)");
        Set<String> missing = new TreeSet<>(SHARED.keySet());
        missing.addAll(KERNEL_ONLY);
        missing.removeAll(found.keySet());
        assertEquals(Set.of(), missing, "constants this test expects but the kernel sources no longer define");
    }

    @Test
    void javaConstantsEqualTheKernelSources() throws IOException {
        Map<String, Integer> found = sourceConstants();
        for (Map.Entry<String, Integer> e : new TreeMap<>(SHARED).entrySet()) {
            assertEquals(found.get(e.getKey()), e.getValue(), e.getKey() + ": the kernel source and its launcher differ");
        }
    }

    /** What the kernels assume of the blocks they are launched with. */
    @Test
    void launchesFitTheKernelsAssumptions() {
        // pd_block_sum: a power of two, at most the scratch array (bn partials, sum_squares, the direct filter grad)
        assertEquals(1, Integer.bitCount(Launcher.THREADS));
        assertTrue(Launcher.THREADS <= Launcher.REDUCE_MAX_THREADS);
        // gemm_tile: 16 x 16 threads, each a 4 x 4 sub-tile of the 64 x 64 tile
        assertEquals(Gemm.TILE_M * Gemm.TILE_N, 16 * Gemm.THREADS);
        // the fused PDE kernels: whole warps, at most their launch bound
        assertEquals(0, PdeKernels.MAX_THREADS % PdeKernels.WARP);
        for (int hw : new int[]{1, 7, 16, 64, 100, 256, 1024}) {
            PdeKernels.Plan p = new PdeKernels(new Launcher(null, dev.pdecnn.tensor.DType.F32, () -> "test"), 48 * 1024,
                    false).plan(8, 1, hw, 5, true);
            if (p.fused()) {
                assertTrue(p.threads() <= PdeKernels.MAX_THREADS && p.threads() % PdeKernels.WARP == 0, "plan " + p);
                assertTrue((long) p.threads() * PdeKernels.RMAX >= (long) p.ppb() * hw, "every point has a slot: " + p);
                assertEquals((5 + PdeKernels.BWD_SHARED_FIXED_PLANES) * p.ppb() * hw * 4, p.shared(), "plan " + p);
            }
        }
    }
}
