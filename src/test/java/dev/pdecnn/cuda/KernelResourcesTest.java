package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.backend.cuda.KernelModules;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed PTX and fatbins (src/main/resources/kernels) against the sources: built from exactly these
 * sources (the MANIFEST hash; the byte-for-byte regeneration with nvcc is CI's
 * {@code tools/cuda/build-kernels.sh --check}), one module per source file, and every kernel in the PTX is one
 * the host build registers, so each kernel a GPU can run is one the equality suite can run on the host.
 */
class KernelResourcesTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    @Test
    void committedKernelsMatchTheSources() throws IOException {
        KernelModules km = KernelModules.load();
        Path src = HostBuild.sourceDir();
        assertEquals(KernelModules.sourceHash(src), km.get("sources-sha256"),
                "src/main/resources/kernels is stale: run tools/cuda/build-kernels.sh (needs nvcc) and commit the result");
        TreeSet<String> sources;
        try (Stream<Path> s = Files.list(src)) {
            sources = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu"))
                    .map(n -> n.substring(0, n.length() - 3)).collect(Collectors.toCollection(TreeSet::new));
        }
        assertEquals(sources, new TreeSet<>(km.modules()), "one module per kernel source");
        for (String m : km.modules()) {
            assertTrue(km.fatbin(m).length > 0, m + ".fatbin");
        }
    }

    @Test
    void everyPtxKernelIsRegisteredInTheHostBuild() {
        Map<String, String> ptx = KernelModules.load().kernels();
        assertTrue(ptx.size() >= 60, "expected the full kernel set, found " + ptx.keySet());
        Map<String, String> host = Kernels.host().kernels();
        TreeSet<String> hostKernels = host.keySet().stream().filter(k -> !k.startsWith("emu_"))
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(ptx.keySet()), hostKernels, "PTX entry points vs host registrations");
        for (String k : ptx.keySet()) {
            assertTrue(k.endsWith("_f32") || k.endsWith("_f64"), k + ": every kernel comes in f32 and f64");
        }
    }
}
