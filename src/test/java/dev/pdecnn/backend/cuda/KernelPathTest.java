package dev.pdecnn.backend.cuda;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which path the driver takes per GPU ({@link KernelPath}), and the fatbin header parser ({@link Fatbin}). */
class KernelPathTest {
    static final Fatbin BUILT = new Fatbin(Set.of(70, 75, 80, 86, 89, 90), Set.of(70, 80), Set.of("7.8"));
    /** The fatbins before compute_80 PTX was added. */
    static final Fatbin PTX70 = new Fatbin(Set.of(70, 75, 80, 86, 89, 90), Set.of(70), Set.of("7.8"));

    @Test
    void sassForEveryBuiltArchitecture() {
        assertEquals("SASS sm_70", KernelPath.choose(7, 0, BUILT, false)); // V100
        assertEquals("SASS sm_75", KernelPath.choose(7, 5, BUILT, false)); // T4
        assertEquals("SASS sm_80", KernelPath.choose(8, 0, BUILT, false)); // A100
        assertEquals("SASS sm_86", KernelPath.choose(8, 6, BUILT, false)); // A10, RTX 30
        assertEquals("SASS sm_89", KernelPath.choose(8, 9, BUILT, false)); // L4, RTX 40
        assertEquals("SASS sm_90", KernelPath.choose(9, 0, BUILT, false)); // H100, H200
    }

    @Test
    void sassOfAnOlderMinorOfTheSameMajorRuns() {
        assertEquals("SASS sm_70", KernelPath.choose(7, 2, BUILT, false)); // Xavier
        assertEquals("SASS sm_86", KernelPath.choose(8, 7, BUILT, false)); // Orin
        assertEquals("SASS sm_80", KernelPath.choose(8, 6, new Fatbin(Set.of(80, 90), Set.of(70), Set.of("7.8")), false));
    }

    @Test
    void newerGenerationsJitTheNewestPtxThatFits() {
        assertEquals("PTX JIT (compute_80)", KernelPath.choose(10, 0, BUILT, false)); // B200
        assertEquals("PTX JIT (compute_80)", KernelPath.choose(12, 0, BUILT, false)); // RTX 50
        assertEquals("PTX JIT (compute_70)", KernelPath.choose(12, 0, PTX70, false));
        // SASS never crosses a major version: sm_90 SASS does not run on sm_100
        assertEquals("PTX JIT (compute_70)", KernelPath.choose(9, 0, new Fatbin(Set.of(80), Set.of(70), Set.of()), false));
        // a GPU below the compute_80 PTX without SASS of its major JITs compute_70
        assertEquals("PTX JIT (compute_70)", KernelPath.choose(7, 5, new Fatbin(Set.of(80), Set.of(70, 80), Set.of()), false));
    }

    @Test
    void forcedPtxAndTooOldGpus() {
        // forced, the driver gets the separate .ptx modules, compute_70, whatever the fatbin holds
        assertEquals("PTX JIT (compute_70, forced by PDECNN_CUDA_FORCE_PTX=1)", KernelPath.choose(9, 0, BUILT, true));
        assertEquals("none: the kernels need compute capability 7.0 or later", KernelPath.choose(6, 1, BUILT, false));
    }

    @Test
    void tensorCoresWhereTheCodeIsSm80OrLater() {
        assertTrue(KernelPath.tf32TensorCores(8, 0, BUILT, false)); // A100: SASS sm_80
        assertTrue(KernelPath.tf32TensorCores(9, 0, BUILT, false)); // H100: SASS sm_90
        assertTrue(KernelPath.tf32TensorCores(10, 0, BUILT, false)); // B200: compute_80 PTX
        assertTrue(KernelPath.tf32TensorCores(12, 0, BUILT, false)); // RTX 50: compute_80 PTX
        assertFalse(KernelPath.tf32TensorCores(12, 0, PTX70, false)); // only compute_70 PTX: the fp32 fallback
        assertFalse(KernelPath.tf32TensorCores(9, 0, BUILT, true)); // forced .ptx, compute_70
        assertFalse(KernelPath.tf32TensorCores(7, 5, BUILT, false)); // T4: no TF32
        assertFalse(KernelPath.tf32TensorCores(7, 0, new Fatbin(Set.of(), Set.of(70, 80), Set.of()), false));
    }

    @Test
    void describeGroupsTheModulesOfOnePath() {
        KernelModules km = KernelModules.load();
        assertEquals("SASS sm_90 (" + String.join(", ", km.modules()) + ")", KernelPath.describe(9, 0, km, false));
        assertEquals("PTX JIT (compute_80) (" + String.join(", ", km.modules()) + ")", KernelPath.describe(12, 0, km, false));
    }

    /** A fatbin container with the given entries ({kind, arch, isaMajor, isaMinor}), each with an 8-byte payload. */
    static byte[] fatbin(int[]... entries) {
        int entry = 64 + 8;
        ByteBuffer b = ByteBuffer.allocate(16 + entry * entries.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(Fatbin.MAGIC).putShort((short) 1).putShort((short) 16).putLong((long) entry * entries.length);
        for (int[] e : entries) {
            int at = b.position();
            b.putShort((short) e[0]).putShort((short) 0x101).putInt(64).putLong(8);
            b.putShort(at + 24, (short) e[3]).putShort(at + 26, (short) e[2]).putInt(at + 28, e[1]);
            b.position(at + entry);
        }
        return b.array();
    }

    @Test
    void parserReadsEntriesAndRejectsOtherBytes() {
        Fatbin f = Fatbin.parse(fatbin(new int[]{1, 70, 7, 8}, new int[]{2, 70, 1, 7}, new int[]{2, 90, 1, 7}));
        assertEquals(Set.of(70, 90), f.sass());
        assertEquals(Set.of(70), f.ptx());
        assertEquals(Set.of("7.8"), f.ptxIsa());
        assertEquals("sm_70,sm_90", f.sassList());
        assertEquals("compute_70", f.ptxList());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Fatbin.parse("//\n.version 7.8\n".getBytes()))
                .getMessage().startsWith("not a fatbin"));
        byte[] cut = fatbin(new int[]{2, 80, 1, 7});
        assertThrows(IllegalArgumentException.class, () -> Fatbin.parse(java.util.Arrays.copyOf(cut, cut.length - 1)));
    }
}
