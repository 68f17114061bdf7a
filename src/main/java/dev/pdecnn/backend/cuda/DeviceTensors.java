package dev.pdecnn.backend.cuda;

import dev.pdecnn.tensor.Tensor;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Where the tensors of one {@link CudaBackend} live on the device: each tensor an operation touches gets a
 * device buffer (a {@link Resident}, attached to the tensor as its {@link Tensor.DeviceCopy}) with two validity
 * flags, host valid and device valid. Operations read inputs from the device buffer (uploading only when the
 * host copy is newer) and write outputs there only; host code reads the tensor after {@link Tensor#download()}, and
 * host code that may write it marks the device copy stale.
 *
 * <p>Two lifetimes:
 * <ul>
 *   <li><b>persistent</b>: tensors declared state where they are made ({@link #declareState}): the parameter
 *       store's flat tensors (parameters, their gradients, optimizer velocities, batch-norm running statistics)
 *       and module state such as batch norm's saved statistics. Their buffers stay until {@link #releaseAll},
 *       so a whole training run keeps them on the device;</li>
 *   <li><b>step</b>: everything else (activations, their gradients, the input batch). Their buffers are
 *       returned when the training step ends ({@link #endStep}) and handed to the next step's tensors of the
 *       same size. A step tensor that only the device held becomes unreadable then ("recycled"): host code
 *       must read activations before the next step starts.</li>
 * </ul>
 *
 * <p>On a pool ({@link DeviceMemory#pooled()}), returned buffers and operation scratch go to caches keyed by
 * size (one for step tensors, one for scratch) rather than back to the pool, so from the second step on a step
 * takes no block from the pool at all, and, since both go back in the reverse order of taking, every step runs
 * on the same addresses as the one before (the input batch aside when it is staged);
 * the cache is emptied into the pool when an allocation would otherwise fail. On checked memory (the tests'
 * separate allocations) buffers go straight back. Lifetimes are explicit, never the garbage collector's: a
 * buffer goes back when its step ends, when its tensor is evicted, or at {@link #releaseAll} (which code that
 * is done with a backend calls: the session's close, {@code bench} between models, the tests after each case).
 *
 * <p><b>Staged uploads</b> ({@link #stage}): the next batch is copied into a page-locked staging buffer and
 * uploaded on the runner's copy stream while the current step runs; it is a step tensor of the step whose first
 * operation reads it (that operation waits for the copy).
 *
 * <p>Not thread-safe: one thread runs the operations and reads the tensors, as the Trainer does.
 */
final class DeviceTensors {
    /** The device copy of one tensor. */
    static final class Resident implements Tensor.DeviceCopy {
        final Tensor tensor;
        final DeviceTensors owner;
        final DevicePtr ptr;
        boolean hostValid = true, deviceValid;
        boolean persistent;
        /** The buffer went back (step end, tensor death, release). */
        boolean released;
        /** Released while only the device held the values: they are gone. */
        boolean lost;
        /** Uploaded by {@link #stage}, not yet read by an operation; {@code pending}: its copy may be in flight. */
        boolean staged, pending;

        Resident(DeviceTensors owner, Tensor t, DevicePtr ptr, boolean persistent) {
            this.tensor = t;
            this.owner = owner;
            this.ptr = ptr;
            this.persistent = persistent;
        }

        @Override
        public void hostAccess(Tensor t, boolean write) {
            owner.hostAccess(this, t, write, false);
        }

        @Override
        public void download(Tensor t) {
            owner.hostAccess(this, t, false, true);
        }

        @Override
        public boolean fill(Tensor t, double v) {
            return owner.fill(this, t, v);
        }
    }

    private final KernelRunner rt;
    private final DeviceMemory mem;
    /** Returned step-tensor buffers by size (on a pool), and, apart, returned operation scratch. */
    private final Map<Long, ArrayDeque<DevicePtr>> cache = new HashMap<>(), scratch = new HashMap<>();
    /** Every device copy this object holds a buffer for, until it is dropped (step end, eviction, release). */
    private final Set<Resident> live = new LinkedHashSet<>();
    private final List<Resident> step = new ArrayList<>();
    private final Set<Resident> persistent = new LinkedHashSet<>();
    private final List<Resident> staged = new ArrayList<>();
    private ByteBuffer staging;
    private boolean inFlight;

    /** {@code runner}: where copies and memsets go (the device's {@link StepRecorder}); buffers come from {@code mem}. */
    DeviceTensors(DeviceMemory mem, KernelRunner runner) {
        this.mem = mem;
        this.rt = runner;
    }

    // ------------------------------------------------------------------------------------------ buffers

    private static long key(long bytes) {
        return Math.max(DeviceMemory.ALIGN, (Math.max(bytes, 1) + DeviceMemory.ALIGN - 1) / DeviceMemory.ALIGN
                * DeviceMemory.ALIGN);
    }

    /**
     * Scratch of one operation, {@code bytes} bytes: from the scratch cache when one of that size is there, else
     * from the memory. {@code what} names it in an out-of-memory message (built only when a block is taken from
     * the memory). Scratch has its own cache: an operation gives its scratch back in the reverse order of taking
     * ({@link #giveScratch}), which leaves that cache as it found it, so scratch never reorders the blocks the
     * step's tensors take, and every step runs on the same addresses.
     */
    DevicePtr take(long bytes, Supplier<String> what) {
        return take(scratch, bytes, what, true);
    }

    /**
     * A step tensor's buffer ({@code cached}: from the step cache) or, with {@code cached} false, a fresh block
     * (persistent tensors: they must not consume the buffers the next step's activations will ask for, or that
     * step would have to take new blocks).
     */
    private DevicePtr take(long bytes, Supplier<String> what, boolean cached) {
        return take(cache, bytes, what, cached);
    }

    private DevicePtr take(Map<Long, ArrayDeque<DevicePtr>> from, long bytes, Supplier<String> what, boolean cached) {
        long b = Math.max(bytes, 1);
        ArrayDeque<DevicePtr> q = cached ? from.get(key(b)) : null;
        if (q != null && !q.isEmpty()) {
            return new DevicePtr(q.pop().address(), b);
        }
        try {
            return mem.alloc(b, what.get(), !cached);
        } catch (DeviceOutOfMemoryException e) {
            if (!flushCache()) {
                throw e;
            }
            return mem.alloc(b, what.get(), !cached);
        }
    }

    /** Returns an operation's scratch ({@link #take}): to the scratch cache on a pool, else to the memory. */
    void giveScratch(DevicePtr p) {
        give(scratch, p);
    }

    /** Returns a step tensor's buffer: to the step cache on a pool, else to the memory. */
    private void give(DevicePtr p) {
        give(cache, p);
    }

    private void give(Map<Long, ArrayDeque<DevicePtr>> to, DevicePtr p) {
        if (p == null || p.isNull()) {
            return;
        }
        if (mem.pooled()) {
            to.computeIfAbsent(key(p.bytes()), k -> new ArrayDeque<>()).push(p);
        } else {
            mem.free(p);
        }
    }

    /** Returns every cached buffer to the memory; false when there was none. */
    boolean flushCache() {
        boolean any = false;
        for (Map<Long, ArrayDeque<DevicePtr>> m : List.of(cache, scratch)) {
            for (ArrayDeque<DevicePtr> q : m.values()) {
                while (!q.isEmpty()) {
                    mem.free(q.pop());
                    any = true;
                }
            }
        }
        return any;
    }

    long cachedBytes() {
        long s = 0;
        for (Map<Long, ArrayDeque<DevicePtr>> m : List.of(cache, scratch)) {
            for (Map.Entry<Long, ArrayDeque<DevicePtr>> e : m.entrySet()) {
                s += e.getKey() * e.getValue().size();
            }
        }
        return s;
    }

    /** Bytes held by tensors (persistent and of the current step). */
    long residentBytes() {
        long s = 0;
        for (Resident r : live) {
            if (!r.released) {
                s += key(r.ptr.bytes());
            }
        }
        return s;
    }

    // ------------------------------------------------------------------------------------ tensor copies

    /**
     * Declares {@code t} state ({@link CudaDevice#state}): its buffer, once it has one, is persistent. Until then
     * the tensor carries a marker that behaves as no device copy at all, and it gets the marker back whenever its
     * buffer is given back ({@link #releaseAll}), so the declaration outlives the buffer.
     */
    Tensor declareState(Tensor t) {
        t.deviceCopy(declared);
        return t;
    }

    /** The marker of {@link #declareState}: host access is plain host access (allocating zeros on first touch). */
    private final Tensor.DeviceCopy declared = new Tensor.DeviceCopy() {
        @Override
        public void hostAccess(Tensor t, boolean write) {
            t.allocateHost();
        }

        @Override
        public boolean fill(Tensor t, double v) {
            return !t.hostAllocated() && Double.doubleToRawLongBits(v) == 0; // zeros already
        }
    };

    /** Detaches {@code t}'s device copy, leaving declared state its marker. */
    private void detach(Tensor t, Resident r) {
        t.deviceCopy(r.persistent ? declared : null);
    }

    /**
     * The device buffer of {@code t}, created when it has none: persistent for declared state, a step buffer for
     * anything else. A device copy of another backend is first brought back to the host and dropped.
     */
    Resident resident(Tensor t, Supplier<String> what) {
        Tensor.DeviceCopy dc = t.deviceCopy();
        boolean persistent = dc == declared;
        if (dc instanceof Resident r && r.owner == this && !r.released) {
            if (r.pending) {
                awaitStaged();
            }
            if (r.staged) { // a staged batch joins the step that reads it
                r.staged = false;
                this.staged.remove(r);
                step.add(r);
            }
            return r;
        }
        if (dc instanceof Resident other) {
            if (!other.released) {
                other.owner.hostAccess(other, t, true, true); // another backend's copy: the host becomes current
                other.owner.drop(other);
            }
            t.deviceCopy(null);
        } else if (dc != null && t.hostAllocated()) {
            dc.hostAccess(t, true);
            t.deviceCopy(null);
        }
        Resident r = new Resident(this, t, take((long) t.size() * t.dtype().bytes, what, !persistent),
                persistent);
        live.add(r);
        (persistent ? this.persistent : step).add(r);
        t.deviceCopy(r);
        return r;
    }

    /** The device buffer of an operation's input, uploaded when the host copy is newer. */
    DevicePtr input(Tensor t, Supplier<String> what) {
        Tensor.DeviceCopy dc = t.deviceCopy();
        if (dc instanceof Resident old && old.lost) {
            throw new IllegalStateException(what.get() + ": this tensor was an activation of a finished training step; its "
                    + "device buffer has been reused since and its values are gone");
        }
        Resident r = resident(t, what);
        if (!r.deviceValid) {
            if (t.hostAllocated()) {
                rt.toDevice(t.hostArray(), r.ptr);
            } else {
                rt.zero(r.ptr, (long) t.size() * t.dtype().bytes); // zeros that never had a host array
            }
            r.deviceValid = true;
        }
        return r.ptr;
    }

    /** The device buffer of an operation's output (no upload: the operation writes it, or reads its upload). */
    DevicePtr output(Tensor t, Supplier<String> what) {
        return resident(t, what).ptr;
    }

    /** After a launch wrote {@code t}'s device buffer: the host copy is stale. */
    void written(Tensor t) {
        Resident r = (Resident) t.deviceCopy();
        r.deviceValid = true;
        r.hostValid = false;
    }

    /**
     * Host code touches {@code t}'s host array. Only {@code explicit} access ({@link Tensor#download}, or this
     * class moving data itself) copies newer device values down: an implicit read of device data would hide a
     * transfer in an accessor, so it is refused with a message that names the fix.
     */
    private void hostAccess(Resident r, Tensor t, boolean write, boolean explicit) {
        if (r.pending) {
            awaitStaged();
        }
        if (r.lost) {
            throw new IllegalStateException(t + " was an activation of a finished training step on " + rt.description()
                    + ": its device buffer has been reused since; read activations before the next step starts");
        }
        if (r.released) {
            return;
        }
        if (!r.hostValid && !explicit) {
            throw new IllegalStateException(t + " holds newer values on " + rt.description() + ": call download() on it "
                    + "before host code reads or changes it (host reads of device data are explicit)");
        }
        download(r, t);
        t.allocateHost(); // host code wants the array, even of zeros that never had one
        if (write) {
            r.deviceValid = false;
        }
    }

    /**
     * Starts uploading {@code t} (a host tensor without a device copy, e.g. the next training batch) through the
     * staging buffer on the runner's copy stream; returns false, doing nothing, for a tensor that cannot be staged
     * (already on a device, a reshape view, no host array) or when device memory is short (the operation that
     * reads it then uploads it, and reports an out-of-memory error with its own context).
     */
    boolean stage(Tensor t, Supplier<String> what) {
        if (t.deviceCopy() != null || t.aliased() || !t.hostAllocated()) {
            return false;
        }
        awaitStaged(); // the staging buffer is reused
        long bytes = (long) t.size() * t.dtype().bytes;
        DevicePtr dst;
        try {
            dst = take(bytes, what, true);
        } catch (DeviceOutOfMemoryException e) {
            return false;
        }
        if (staging == null || staging.capacity() < bytes) {
            if (staging != null) {
                rt.freeStaging(staging);
            }
            staging = rt.allocStaging(bytes);
        }
        staging.clear();
        if (t.hostArray() instanceof float[] a) {
            staging.asFloatBuffer().put(a);
        } else {
            staging.asDoubleBuffer().put((double[]) t.hostArray());
        }
        Resident r = new Resident(this, t, dst, false);
        live.add(r);
        staged.add(r);
        r.staged = true;
        r.pending = true;
        r.deviceValid = true;
        t.deviceCopy(r);
        rt.toDeviceAsync(staging, bytes, r.ptr);
        inFlight = true;
        return true;
    }

    /** Waits for the staged uploads in flight. */
    void awaitStaged() {
        if (inFlight) {
            rt.awaitStaged();
            inFlight = false;
            for (Resident r : staged) {
                r.pending = false;
            }
        }
    }

    /** Makes the host copy current (allocating the host array when the tensor never had one). */
    private void download(Resident r, Tensor t) {
        if (!r.hostValid) {
            t.allocateHost();
            rt.toHost(r.ptr, t.hostArray());
            r.hostValid = true;
        }
    }

    /**
     * Downloads {@code t} once the recorded step has run (see {@link StepRecorder#toHostLater}); the returned action,
     * run then, makes the host copy the current one. A tensor without newer device values downloads at once.
     */
    Runnable downloadLater(Tensor t, StepRecorder rec) {
        if (!(t.deviceCopy() instanceof Resident r) || r.owner != this || r.released || r.lost || r.hostValid
                || r.pending) {
            t.download();
            return () -> { };
        }
        t.allocateHost();
        rec.toHostLater(r.ptr, t.hostArray());
        return () -> r.hostValid = true;
    }

    /** Zero fills (Module.zeroGrad) run on the device: a memset, no transfer. */
    private boolean fill(Resident r, Tensor t, double v) {
        if (r.lost || r.released) {
            t.deviceCopy(null); // the host overwrites every element
            r.lost = false;
            return false;
        }
        if (v != 0 || Double.doubleToRawLongBits(v) != 0) {
            return false;
        }
        rt.zero(r.ptr, (long) t.size() * t.dtype().bytes);
        r.deviceValid = true;
        r.hostValid = false;
        return true;
    }

    /** Brings {@code t}'s values to the host and drops its device copy (a tensor the device must not keep). */
    void evict(Tensor t) {
        Tensor.DeviceCopy dc = t.deviceCopy();
        if (dc == null) {
            return;
        }
        if (!(dc instanceof Resident r && r.released)) {
            dc.download(t);
            dc.hostAccess(t, true);
            if (dc instanceof Resident r) {
                r.owner.drop(r);
            }
        }
        t.deviceCopy(null);
    }

    /** Returns a resident's buffer (host already current or values not needed). */
    private void drop(Resident r) {
        if (r.released) {
            return;
        }
        r.released = true;
        live.remove(r);
        if (r.staged) {
            staged.remove(r);
        }
        if (r.persistent) {
            persistent.remove(r);
            mem.free(r.ptr); // taken fresh from the memory, so it goes back there
        } else {
            give(r.ptr);
        }
    }

    // ---------------------------------------------------------------------------------------- lifetimes

    /** Ends a training step: the step tensors' buffers go back (to the cache on a pool) for the next step. */
    void endStep() {
        // Back in the reverse order of taking: the size-keyed cache is a stack, so the next step's first request of
        // a size gets the block this step's first request got, and every step runs on the same addresses (what a
        // captured CUDA graph needs).
        for (int i = step.size() - 1; i >= 0; i--) {
            Resident r = step.get(i);
            if (r.released || r.persistent) {
                continue;
            }
            Tensor t = r.tensor;
            drop(r);
            if (t != null) {
                if (r.hostValid) {
                    t.deviceCopy(null);
                } else {
                    r.lost = true;
                }
            }
        }
        step.clear();
    }

    /**
     * Downloads every live tensor whose values only the device holds, detaches every device copy and returns all
     * buffers and the cache to the memory: the host arrays are current again and nothing of this backend stays on
     * the device. The backend stays usable (the next operation uploads again).
     */
    void releaseAll() {
        awaitStaged();
        List<Resident> all = new ArrayList<>(live);
        for (Resident r : all) {
            Tensor t = r.tensor;
            if (t != null) {
                if (!r.lost) {
                    download(r, t);
                }
                if (t.deviceCopy() == r) {
                    detach(t, r);
                }
            }
            drop(r);
        }
        step.clear();
        persistent.clear();
        staged.clear();
        flushCache();
        if (staging != null) {
            rt.freeStaging(staging);
            staging = null;
        }
    }
}
