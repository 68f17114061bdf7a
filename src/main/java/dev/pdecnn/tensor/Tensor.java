package dev.pdecnn.tensor;

import java.util.Arrays;

/**
 * A dense NCHW tensor on the host: a shape and a flat row-major array, float[] for F32 or double[] for
 * F64. Kernels read the array directly ({@link #f32()} / {@link #f64()}); the slow {@link #get}/{@link #set}
 * accessors exist for tests, I/O and finite differences.
 *
 * <p>A device backend may attach a {@link DeviceCopy}: the tensor's data then live on a device too, and which
 * copy is current is the device copy's business. Reading device data on the host is explicit: {@link #download}
 * copies newer device values down. Every host access below first asks the device copy ({@code dev != null}: the
 * one test the CPU path pays), which refuses when the device holds newer values that were not downloaded, so no
 * accessor hides a transfer; accesses that may write ({@link #f32()}, {@link #f64()}, {@link #set}, {@link #fill},
 * {@link #copyInto} on the target) also mark the device copy stale, so the backend uploads it before its next use.
 *
 * <p>A device backend also creates tensors whose host array does not exist yet ({@link #unallocated}): zeros
 * that get a host array only when host code first touches them, so activations that live on the device cost
 * no host memory. {@link #zerosLike()} of a tensor with a device copy is such a tensor; on the CPU path every
 * tensor has its array from the start.
 *
 * <p><b>Views</b> ({@link #view}): a tensor may be a window of {@link #size()} elements of another tensor's array
 * starting at {@link #offset()} (the parameter store keeps every weight, gradient and momentum buffer of a network
 * as such windows of one flat tensor per role). A view shares its base's array and its base's device copy: host
 * access to a view is host access to the base. Kernels that read {@link #f32()}/{@link #f64()} directly index
 * from {@link #offset()}; the accessors ({@link #get}, {@link #set}, {@link #fill}, ...) do so themselves.
 */
public final class Tensor {
    /**
     * The device side of a tensor, attached by a device backend. {@link #hostAccess} runs before host code
     * touches the host array: it must make the host array current and, when {@code write} is true, treat the
     * device copy as stale from then on.
     */
    public interface DeviceCopy {
        /**
         * Host code is about to touch the host array ({@code write}: it may change it). A device copy holding newer
         * values than the host refuses: reading device data on the host is an explicit {@link #download}.
         */
        void hostAccess(Tensor t, boolean write);

        /** Makes the host array current (copies newer device values down); the explicit host read. */
        default void download(Tensor t) {
            hostAccess(t, false);
        }

        /** Fills the tensor on the device and returns true, or returns false to let the host fill it. */
        default boolean fill(Tensor t, double v) {
            return false;
        }
    }

    /** The device copy of a tensor whose host array is not allocated yet: the first host access allocates it. */
    private static final DeviceCopy UNALLOCATED = new DeviceCopy() {
        @Override
        public void hostAccess(Tensor t, boolean write) {
            t.allocateHost();
        }

        @Override
        public boolean fill(Tensor t, double v) {
            return Double.doubleToRawLongBits(v) == 0; // zeros already
        }
    };

    /** The device copy of a view: host access to a view is host access to its base. */
    private static final DeviceCopy VIA_BASE = new DeviceCopy() {
        @Override
        public void hostAccess(Tensor t, boolean write) {
            DeviceCopy bd = t.base.dev;
            if (bd != null) {
                bd.hostAccess(t.base, write);
            }
            t.f = t.base.f; // the base may have got its host array just now
            t.d = t.base.d;
        }

        @Override
        public void download(Tensor t) {
            if (t.base.dev != null) {
                t.base.dev.download(t.base);
            }
            t.f = t.base.f;
            t.d = t.base.d;
        }
    };

    private final int[] shape;
    private final DType dtype;
    private final int n;
    /** The tensor whose array this view shares (null for a tensor that owns its array), and where it starts. */
    private Tensor base;
    private int offset;
    private float[] f;
    private double[] d;
    private DeviceCopy dev;
    /** True once a {@link #reshape} view shares this host array: device backends then never keep it resident. */
    private boolean aliased;

    private Tensor(DType dtype, int[] shape, float[] f, double[] d) {
        this(dtype, shape, f, d, f != null ? f.length : d != null ? d.length : checkedNumel(shape));
    }

    private Tensor(DType dtype, int[] shape, float[] f, double[] d, int n) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.f = f;
        this.d = d;
        this.n = n;
    }

    private static int checkedNumel(int[] shape) {
        long n = numel(shape);
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor too large: " + Arrays.toString(shape));
        }
        return (int) n;
    }

    public static Tensor zeros(DType dtype, int... shape) {
        int n = checkedNumel(shape);
        return dtype == DType.F32
                ? new Tensor(dtype, shape, new float[n], null)
                : new Tensor(dtype, shape, null, new double[n]);
    }

    /** Zeros whose host array is allocated only when host code first touches it (for device backends). */
    public static Tensor unallocated(DType dtype, int... shape) {
        Tensor t = new Tensor(dtype, shape, null, null);
        t.dev = UNALLOCATED;
        return t;
    }

    /**
     * A view of {@code numel(shape)} elements of {@code base}'s array starting at element {@code offset}; it shares
     * the base's array and device copy (see the class comment). {@code base} must own its array (not be a view).
     */
    public static Tensor view(Tensor base, int offset, int... shape) {
        if (base.base != null) {
            return view(base.base, base.offset + offset, shape);
        }
        long len = numel(shape);
        if (offset < 0 || offset + len > base.n) {
            throw new IllegalArgumentException("view [" + offset + ", " + (offset + len) + ") outside " + base);
        }
        Tensor v = new Tensor(base.dtype, shape, null, null, (int) len);
        v.f = base.f;
        v.d = base.d;
        v.base = base;
        v.offset = offset;
        v.dev = VIA_BASE;
        return v;
    }

    /**
     * Turns this tensor into a view of {@code base}'s window at {@code offset}, copying its values there first.
     * For the parameter store, which adopts the tensors modules registered (their fields keep pointing at the same
     * objects). This tensor must own its array and have no device copy; {@code base} must own its array.
     */
    public void moveInto(Tensor base, int offset) {
        boolean untouched = dev == UNALLOCATED; // zeros a device backend made, never touched: nothing to copy
        if (this.base != null || (dev != null && !untouched) || base.base != null || base.dtype != dtype) {
            throw new IllegalStateException("cannot move " + this + " into " + base);
        }
        Tensor window = view(base, offset, shape);
        if (!untouched) {
            copyInto(window);
        }
        f = window.f;
        d = window.d;
        this.base = base;
        this.offset = offset;
        dev = VIA_BASE;
    }

    /** Where this tensor's elements start in {@link #f32()}/{@link #f64()}: 0 unless it is a {@link #view}. */
    public int offset() {
        return offset;
    }

    /** The tensor this one is a {@link #view} of, or null when it owns its array. */
    public Tensor base() {
        return base;
    }

    public static Tensor of(float[] data, int... shape) {
        check(data.length, shape);
        return new Tensor(DType.F32, shape, data, null);
    }

    public static Tensor of(double[] data, int... shape) {
        check(data.length, shape);
        return new Tensor(DType.F64, shape, null, data);
    }

    private static void check(int len, int[] shape) {
        if (numel(shape) != len) {
            throw new IllegalArgumentException("data length " + len + " does not match shape " + Arrays.toString(shape));
        }
    }

    public static long numel(int... shape) {
        long n = 1;
        for (int s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            n *= s;
        }
        return n;
    }

    public DType dtype() {
        return dtype;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int size() {
        return n;
    }

    public boolean hasShape(int... s) {
        return Arrays.equals(shape, s);
    }

    public boolean sameShape(Tensor o) {
        return Arrays.equals(shape, o.shape);
    }

    public float[] f32() {
        if (dev != null) {
            dev.hostAccess(this, true);
        }
        if (f == null) {
            throw new IllegalStateException("tensor is " + dtype + ", not F32");
        }
        return f;
    }

    public double[] f64() {
        if (dev != null) {
            dev.hostAccess(this, true);
        }
        if (d == null) {
            throw new IllegalStateException("tensor is " + dtype + ", not F64");
        }
        return d;
    }

    public double get(int i) {
        if (dev != null) {
            dev.hostAccess(this, false);
        }
        return f != null ? f[offset + i] : d[offset + i];
    }

    public void set(int i, double v) {
        if (dev != null) {
            dev.hostAccess(this, true);
        }
        if (f != null) {
            f[offset + i] = (float) v;
        } else {
            d[offset + i] = v;
        }
    }

    /** Zeros of the same shape and dtype; without a host array yet when this tensor has a device copy. */
    public Tensor zerosLike() {
        return (base != null ? base.dev : dev) != null ? unallocated(dtype, shape) : zeros(dtype, shape);
    }

    public Tensor copy() {
        if (dev != null) {
            dev.hostAccess(this, false);
        }
        return f != null ? new Tensor(dtype, shape, Arrays.copyOfRange(f, offset, offset + n), null)
                : new Tensor(dtype, shape, null, Arrays.copyOfRange(d, offset, offset + n));
    }

    /** Same data viewed under another shape with the same element count (no copy). */
    public Tensor reshape(int... newShape) {
        check(size(), newShape);
        if (base != null) {
            return view(base, offset, newShape);
        }
        if (dev != null) {
            dev.hostAccess(this, true); // the view may write the shared array
        }
        Tensor v = new Tensor(dtype, newShape, f, d);
        aliased = true;
        v.aliased = true;
        return v;
    }

    public Tensor to(DType target) {
        if (target == dtype) {
            return copy();
        }
        Tensor t = zeros(target, shape);
        copyInto(t);
        return t;
    }

    /** Copies values into {@code dst} (same element count, any dtype). */
    public void copyInto(Tensor dst) {
        if (dst.size() != size()) {
            throw new IllegalArgumentException("size mismatch " + size() + " vs " + dst.size());
        }
        if (dev != null) {
            dev.hostAccess(this, false);
        }
        if (dst.dev != null) {
            dst.dev.hostAccess(dst, true);
        }
        if (f != null && dst.f != null) {
            System.arraycopy(f, offset, dst.f, dst.offset, n);
        } else if (d != null && dst.d != null) {
            System.arraycopy(d, offset, dst.d, dst.offset, n);
        } else {
            for (int i = 0, n = size(); i < n; i++) {
                dst.set(i, get(i));
            }
        }
    }

    public void fill(double v) {
        if (dev != null) {
            if (dev.fill(this, v)) {
                return;
            }
            if (dev != null) { // fill may detach a device copy whose values are gone
                dev.hostAccess(this, true);
            }
        }
        if (f != null) {
            Arrays.fill(f, offset, offset + n, (float) v);
        } else {
            Arrays.fill(d, offset, offset + n, v);
        }
    }

    public double sum() {
        if (dev != null) {
            dev.hostAccess(this, false);
        }
        double s = 0;
        for (int i = 0, n = size(); i < n; i++) {
            s += get(i);
        }
        return s;
    }

    public boolean allFinite() {
        if (dev != null) {
            dev.hostAccess(this, false);
        }
        for (int i = 0, n = size(); i < n; i++) {
            if (!Double.isFinite(get(i))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Brings values that a device operation wrote to the host, so host code can read them: the one explicit host
     * read of device data (plain accessors refuse a tensor whose newer values are on a device). Nothing to do for
     * a host tensor. Returns this.
     */
    public Tensor download() {
        if (dev != null) {
            dev.download(this);
        }
        return this;
    }

    // ------------------------------------------------------------- for device backends (dev.pdecnn.backend.cuda)

    /** The attached device copy, or null (always null on the CPU path). */
    public DeviceCopy deviceCopy() {
        return dev;
    }

    /**
     * Attaches (or, with null, detaches) a device copy; only a device backend calls this. Detaching from a tensor
     * whose host array was never allocated leaves it the zeros it was.
     */
    public void deviceCopy(DeviceCopy c) {
        if (base != null) {
            throw new IllegalStateException("a view shares its base's device copy: attach it to the base");
        }
        dev = c == null && f == null && d == null ? UNALLOCATED : c;
    }

    /** Whether the host array exists ({@link #unallocated} tensors get it at their first host access). */
    public boolean hostAllocated() {
        return f != null || d != null;
    }

    /** Allocates the host array (zeros) if it does not exist yet; a device backend calls this before a download. */
    public void allocateHost() {
        if (f == null && d == null) {
            if (dtype == DType.F32) {
                f = new float[n];
            } else {
                d = new double[n];
            }
        }
        if (dev == UNALLOCATED) {
            dev = null;
        }
    }

    /** Whether a {@link #reshape} view shares this tensor's host array. */
    public boolean aliased() {
        return aliased || base != null;
    }

    /**
     * The host array ({@code float[]} or {@code double[]}, null when not allocated yet) without asking the device
     * copy: for a device backend moving data between it and the device, never for reading values.
     */
    public Object hostArray() {
        return f != null ? f : d;
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape) + " " + dtype;
    }
}
