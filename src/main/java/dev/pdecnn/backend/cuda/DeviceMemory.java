package dev.pdecnn.backend.cuda;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Device memory of a {@link CudaBackend}: a fixed budget sized once at start, with accounting (bytes in use,
 * peak, live blocks, allocation count), so a training step never calls the driver's allocator and a leak shows
 * as bytes still in use.
 *
 * <p>Two kinds, one behaviour:
 * <ul>
 *   <li>{@link #pool}: one device allocation (an arena) made at start and sub-allocated here, best fit with
 *       coalescing of neighbouring free blocks, 256-byte aligned (what cudaMalloc guarantees). The GPU path
 *       uses it: after the first step every request is served from the arena.</li>
 *   <li>{@link #checked}: every block is its own runner allocation, within the same budget. On the host
 *       emulation this keeps the driver's guard bytes around each buffer, so an out-of-bounds kernel write is
 *       caught with the buffer named; tests of the training path use it next to the pool.</li>
 * </ul>
 *
 * <p>When a request does not fit, {@link DeviceOutOfMemoryException} names what was being allocated, how many
 * bytes, and how much was free (in total and as the largest free block).
 */
public final class DeviceMemory implements AutoCloseable {
    /** Alignment of every block (cudaMalloc's 256 bytes). */
    public static final long ALIGN = 256;

    private final KernelRunner rt;
    private final long capacity;
    private final boolean pooled;
    private final DevicePtr arena;
    /** Pool: free blocks by offset -> size; live blocks by offset -> size. */
    private final TreeMap<Long, Long> free = new TreeMap<>();
    private final TreeMap<Long, Long> live = new TreeMap<>();
    /** Checked: live runner allocations by address -> rounded size. */
    private final Map<Long, Long> checkedLive = new TreeMap<>();
    private long inUse, peak, allocations;
    private boolean closed;

    private DeviceMemory(KernelRunner rt, long capacity, boolean pooled) {
        if (capacity < ALIGN) {
            throw new IllegalArgumentException("device memory budget of " + capacity + " bytes is too small");
        }
        this.rt = rt;
        this.capacity = capacity / ALIGN * ALIGN;
        this.pooled = pooled;
        if (pooled) {
            try {
                this.arena = rt.alloc(this.capacity);
            } catch (KernelException e) {
                throw new DeviceOutOfMemoryException("the device memory pool", this.capacity, -1, -1, -1,
                        "cannot allocate the " + bytes(this.capacity) + " device memory pool on " + rt.description()
                                + " (" + e.getMessage() + "); set a smaller pool with " + POOL_SETTING, e);
            }
            free.put(0L, this.capacity);
        } else {
            this.arena = null;
        }
    }

    /** How users size the pool: the environment variable or the Java property (e.g. 2g, 512m). */
    public static final String POOL_SETTING = "PDECNN_GPU_POOL=<bytes, e.g. 6g> (or -Dpdecnn.gpu.pool)";

    /** One arena of {@code capacity} bytes allocated now from {@code runner}, sub-allocated on every request. */
    public static DeviceMemory pool(KernelRunner runner, long capacity) {
        return new DeviceMemory(runner, capacity, true);
    }

    /** A budget of {@code capacity} bytes, each block a separate runner allocation (bounds-checked on the host). */
    public static DeviceMemory checked(KernelRunner runner, long capacity) {
        return new DeviceMemory(runner, capacity, false);
    }

    public KernelRunner runner() {
        return rt;
    }

    public boolean pooled() {
        return pooled;
    }

    public long capacity() {
        return capacity;
    }

    /** Bytes in live blocks (rounded up to {@link #ALIGN}). */
    public synchronized long inUse() {
        return inUse;
    }

    /** Most bytes ever in use at once. */
    public synchronized long peak() {
        return peak;
    }

    public synchronized long freeBytes() {
        return capacity - inUse;
    }

    /** Blocks allocated and not yet freed. */
    public synchronized int liveBlocks() {
        return pooled ? live.size() : checkedLive.size();
    }

    /** Blocks handed out since the start. */
    public synchronized long allocations() {
        return allocations;
    }

    /** The largest block a request could get now. */
    public synchronized long largestFree() {
        if (!pooled) {
            return capacity - inUse;
        }
        long m = 0;
        for (long s : free.values()) {
            m = Math.max(m, s);
        }
        return m;
    }

    /** A block of at least {@code bytes} bytes; {@code what} names it in an out-of-memory message. */
    public synchronized DevicePtr alloc(long bytes, String what) {
        return alloc(bytes, what, false);
    }

    /**
     * As {@link #alloc(long, String)}; {@code longLived} (weights, gradients, velocities, batch-norm statistics:
     * tensors that live for the whole run) takes the block from the end of the highest free block that fits, so
     * long-lived blocks gather at the top of the pool. Step buffers come and go below them (best fit); without
     * the split, weights allocated during the first step sit between that step's activations, and a larger batch
     * later (evaluation) finds enough free bytes but no block large enough.
     */
    public synchronized DevicePtr alloc(long bytes, String what, boolean longLived) {
        if (closed) {
            throw new IllegalStateException("device memory closed");
        }
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation " + bytes + " for " + what);
        }
        long size = Math.max(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
        DevicePtr p;
        if (pooled) {
            Map.Entry<Long, Long> best = null;
            if (longLived) {
                for (Map.Entry<Long, Long> e : free.descendingMap().entrySet()) {
                    if (e.getValue() >= size) {
                        best = e;
                        break;
                    }
                }
            } else {
                for (Map.Entry<Long, Long> e : free.entrySet()) {
                    if (e.getValue() >= size && (best == null || e.getValue() < best.getValue())) {
                        best = e;
                    }
                }
            }
            if (best == null) {
                throw oom(what, bytes);
            }
            long start = best.getKey(), rest = best.getValue() - size;
            free.remove(start);
            long off;
            if (longLived) { // the top end of the block
                off = start + rest;
                if (rest > 0) {
                    free.put(start, rest);
                }
            } else {
                off = start;
                if (rest > 0) {
                    free.put(off + size, rest);
                }
            }
            live.put(off, size);
            p = new DevicePtr(arena.plus(off).address(), bytes);
        } else {
            if (size > capacity - inUse) {
                throw oom(what, bytes);
            }
            p = rt.alloc(bytes);
            checkedLive.put(p.address(), size);
        }
        inUse += size;
        peak = Math.max(peak, inUse);
        allocations++;
        return p;
    }

    private DeviceOutOfMemoryException oom(String what, long bytes) {
        long freeNow = capacity - inUse, largest = largestFree();
        String msg = String.format(Locale.ROOT, "out of device memory: %s needs %s (%,d bytes), %s free of the %s "
                        + "pool%s on %s; lower --batch-size, or enlarge the pool with %s", what, bytes(bytes), bytes,
                bytes(freeNow), bytes(capacity), pooled && largest < freeNow ? " (largest free block " + bytes(largest) + ")"
                        : "", rt.description(), POOL_SETTING);
        return new DeviceOutOfMemoryException(what, bytes, freeNow, largest, capacity, msg, null);
    }

    public synchronized void free(DevicePtr p) {
        if (p == null || p.isNull()) {
            return;
        }
        if (closed) {
            return; // the arena is gone already; nothing to return
        }
        if (!pooled) {
            Long size = checkedLive.remove(p.address());
            if (size == null) {
                throw new IllegalArgumentException("free of a block this device memory did not hand out: " + p);
            }
            rt.free(p);
            inUse -= size;
            return;
        }
        long off = p.address() - arena.address();
        Long size = live.remove(off);
        if (size == null) {
            throw new IllegalArgumentException("free of a block this device memory did not hand out (or freed twice): "
                    + p);
        }
        inUse -= size;
        long start = off, len = size;
        Map.Entry<Long, Long> before = free.floorEntry(off);
        if (before != null && before.getKey() + before.getValue() == off) {
            start = before.getKey();
            len += before.getValue();
            free.remove(before.getKey());
        }
        Long after = free.get(off + size);
        if (after != null) {
            len += after;
            free.remove(off + size);
        }
        free.put(start, len);
    }

    /** Free blocks of the pool (offset -> bytes): one block of the whole capacity when nothing is in use. */
    public synchronized Map<Long, Long> freeBlocksForTest() {
        return new TreeMap<>(free);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (pooled) {
            rt.free(arena);
        } else {
            for (long a : checkedLive.keySet()) {
                rt.free(new DevicePtr(a, 0));
            }
        }
        live.clear();
        checkedLive.clear();
        free.clear();
    }

    /** One-line account: in use, peak, live blocks. */
    public synchronized String summary() {
        return String.format(Locale.ROOT, "%s in use, peak %s of %s%s, %d live blocks, %,d allocations", bytes(inUse),
                bytes(peak), bytes(capacity), pooled ? " (pool)" : "", liveBlocks(), allocations);
    }

    /** 1536 -> "1.5 KiB". */
    public static String bytes(long b) {
        if (b < 1024) {
            return b + " B";
        }
        String[] u = {"KiB", "MiB", "GiB", "TiB"};
        double v = b;
        int i = -1;
        do {
            v /= 1024;
            i++;
        } while (v >= 1024 && i < u.length - 1);
        return String.format(Locale.ROOT, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, u[i]);
    }

    /** Parses a size such as 512m, 6g, 1.5G, 1048576 (bytes). */
    public static long parseSize(String s) {
        String t = s.strip().toLowerCase(Locale.ROOT);
        if (t.endsWith("ib")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("b")) {
            t = t.substring(0, t.length() - 1);
        }
        long mul = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> mul = 1L << 10;
                case 'm' -> mul = 1L << 20;
                case 'g' -> mul = 1L << 30;
                case 't' -> mul = 1L << 40;
                default -> mul = 1;
            }
        }
        if (mul != 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            double v = Double.parseDouble(t.strip());
            if (!(v > 0)) {
                throw new NumberFormatException();
            }
            return (long) (v * mul);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a size: '" + s + "' (examples: 512m, 6g)");
        }
    }
}
