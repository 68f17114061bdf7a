package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.Fatbin;
import dev.pdecnn.backend.cuda.KernelModules;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed kernels load on every driver from CUDA 11.8 (r520) on: each module's PTX declares PTX ISA 7.8
 * for sm_70, and each fatbin holds SASS for exactly sm_70, sm_75, sm_80, sm_86, sm_89 and sm_90 plus compute_70
 * and compute_80 PTX of ISA 7.8 (compute_80: GPUs newer than the SASS, such as sm_100 and sm_120, JIT code with the
 * TF32 tensor-core kernels) (read from the fatbin container headers by {@link Fatbin}; no toolkit needed). MANIFEST says the
 * same and names nvcc 11.8. {@code tools/cuda/build-kernels.sh --check} makes the same checks in CI.
 */
class KernelBinariesTest {
    static final String PTX_ISA = "7.8";
    static final Set<Integer> SASS = Set.of(70, 75, 80, 86, 89, 90);
    static final Set<Integer> PTX = Set.of(70, 80);

    @Test
    void everyModuleIsPtxIsa78ForSm70() {
        KernelModules km = KernelModules.load();
        assertFalse(km.modules().isEmpty());
        for (String m : km.modules()) {
            assertEquals(PTX_ISA, km.ptxIsa(m), m + ".ptx: .version (PTX ISA 7.8 is what drivers from r520 JIT)");
            String ptx = new String(km.ptx(m, false), StandardCharsets.UTF_8);
            assertTrue(ptx.lines().anyMatch(l -> l.strip().equals(".target sm_70")), m + ".ptx: .target sm_70");
        }
    }

    @Test
    void everyFatbinHasTheSassListAndCompute70And80Ptx() {
        KernelModules km = KernelModules.load();
        for (String m : km.modules()) {
            Fatbin f = km.fatbinContents(m);
            assertEquals(SASS, f.sass(), m + ".fatbin: SASS architectures");
            assertEquals(PTX, f.ptx(), m + ".fatbin: PTX architectures");
            assertEquals(Set.of(PTX_ISA), f.ptxIsa(), m + ".fatbin: PTX ISA of the embedded PTX");
        }
    }

    @Test
    void manifestNamesNvcc118AndDescribesEachModule() {
        KernelModules km = KernelModules.load();
        assertTrue(km.get("nvcc").contains("cuda_11.8."), "MANIFEST nvcc: " + km.get("nvcc"));
        assertTrue(km.get("toolkit").contains("release 11.8"), "MANIFEST toolkit: " + km.get("toolkit"));
        assertTrue(km.get("ptx-flags").contains("-arch=compute_70"), km.get("ptx-flags"));
        for (String m : km.modules()) {
            Fatbin f = km.fatbinContents(m);
            assertEquals("ptx-isa " + km.ptxIsa(m) + " ptx-target sm_70 fatbin sass " + f.sassList() + " ptx "
                    + f.ptxList() + " fatbin-ptx-isa " + String.join(",", f.ptxIsa()), km.moduleInfo(m), m);
        }
    }
}
