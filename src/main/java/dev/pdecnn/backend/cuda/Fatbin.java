package dev.pdecnn.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * What a fatbin holds, read from its container headers (no CUDA toolkit or driver needed). The container that
 * {@code nvcc -fatbin} writes, all fields little-endian:
 * <pre>
 *   header  (16 bytes)  u32 magic 0xBA55ED50 | u16 version (1) | u16 header size (16) | u64 size of the entries
 *   entry   (repeated)  u16 kind (1 = PTX, 2 = ELF, i.e. SASS) | u16 version | u32 entry-header size (64)
 *                       | u64 payload size | u32 compressed size | u32 | u16 minor | u16 major (at byte 24:
 *                       the PTX ISA version of a PTX entry, e.g. 7.8) | u32 arch (e.g. 70 for sm_70 or
 *                       compute_70, at byte 28) | ... | then the payload
 * </pre>
 * The next entry starts at this entry's start + its header size + its payload size; the entries end at
 * 16 + the header's size. {@code cuobjdump --list-elf / --list-ptx} of the CUDA toolkit lists the same.
 * nvcc 11.8 LZ4-compresses the embedded PTX (flag 0x2000 of the entry), so its ISA version is read from the
 * entry header, not from its text. {@code tools/cuda/build-kernels.sh --check} reads these headers the same way.
 *
 * Each set iterates in ascending order.
 *
 * @param sass    the architectures with SASS (70 for sm_70)
 * @param ptx     the virtual architectures with PTX (70 for compute_70)
 * @param ptxIsa  the PTX ISA versions of the PTX entries ("7.8")
 */
public record Fatbin(Set<Integer> sass, Set<Integer> ptx, Set<String> ptxIsa) {
    public static final int MAGIC = 0xBA55ED50;
    static final int KIND_PTX = 1, KIND_ELF = 2;

    public Fatbin {
        sass = Collections.unmodifiableSortedSet(new TreeSet<>(sass));
        ptx = Collections.unmodifiableSortedSet(new TreeSet<>(ptx));
        ptxIsa = Collections.unmodifiableSortedSet(new TreeSet<>(ptxIsa));
    }

    /** Parses a fatbin container; IllegalArgumentException when the bytes are not one. */
    public static Fatbin parse(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 16 || b.getInt(0) != MAGIC) {
            throw new IllegalArgumentException("not a fatbin (magic " + (bytes.length < 4 ? "missing"
                    : String.format("0x%08X", b.getInt(0))) + ", expected 0xBA55ED50)");
        }
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long end = headerSize + b.getLong(8);
        if (end > bytes.length) {
            throw new IllegalArgumentException("truncated fatbin: header says " + end + " bytes, have " + bytes.length);
        }
        List<Integer> sass = new ArrayList<>(), ptx = new ArrayList<>();
        List<String> isa = new ArrayList<>();
        long off = headerSize;
        while (off < end) {
            if (off + 32 > end) {
                throw new IllegalArgumentException("truncated fatbin entry at byte " + off);
            }
            int at = (int) off;
            int kind = Short.toUnsignedInt(b.getShort(at));
            long entryHeader = Integer.toUnsignedLong(b.getInt(at + 4));
            long payload = b.getLong(at + 8);
            int arch = b.getInt(at + 28);
            if (kind == KIND_PTX) {
                ptx.add(arch);
                isa.add(Short.toUnsignedInt(b.getShort(at + 26)) + "." + Short.toUnsignedInt(b.getShort(at + 24)));
            } else if (kind == KIND_ELF) {
                sass.add(arch);
            }
            if (entryHeader <= 0 || payload < 0) {
                throw new IllegalArgumentException("corrupt fatbin entry at byte " + off);
            }
            off += entryHeader + payload;
        }
        return new Fatbin(new TreeSet<>(sass), new TreeSet<>(ptx), new TreeSet<>(isa));
    }

    /** "sm_70,sm_75,..." */
    public String sassList() {
        return String.join(",", sass.stream().map(a -> "sm_" + a).toList());
    }

    /** "compute_70" */
    public String ptxList() {
        return String.join(",", ptx.stream().map(a -> "compute_" + a).toList());
    }
}
