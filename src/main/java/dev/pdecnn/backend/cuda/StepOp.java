package dev.pdecnn.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * One device operation of a recorded step ({@link StepRecorder}): what a CUDA graph captured from the step holds,
 * one node each. The stream order of the list is the step's issue order.
 */
sealed interface StepOp {
    /** A kernel launch; {@code args} as {@link KernelRunner#launch} takes them. */
    record Launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object[] args) implements StepOp {
    }

    /**
     * A host-to-device copy of {@code data} (the host array's bytes, little-endian, taken when the step issued the
     * copy, as a synchronous copy would have read them). In a graph: a copy node from a page-locked slot that is
     * refilled with the step's bytes before each replay.
     */
    record Upload(byte[] data, DevicePtr dst) implements StepOp {
    }

    /** Zeros {@code bytes} bytes at {@code dst} (a memset node). */
    record Zero(DevicePtr dst, long bytes) implements StepOp {
    }

    /**
     * A device-to-host copy into {@code hostArray} that the step reads only after it has run (the loss, the
     * predictions, the logits): a copy node into a page-locked slot, copied into the array after the replay.
     */
    record Download(DevicePtr src, Object hostArray) implements StepOp {
    }

    /**
     * Whether {@code now} can replay on a graph captured from {@code captured}: the same operations in the same
     * order on the same addresses, the same kernels with the same launch shapes. Only what a replay refreshes may
     * differ: the bytes of an upload, the host array of a download, and the scalar arguments of a launch (which
     * {@link #scalarsDiffer} finds; a replay updates those nodes).
     */
    static boolean sameStructure(List<StepOp> captured, List<StepOp> now) {
        if (captured.size() != now.size()) {
            return false;
        }
        for (int i = 0; i < now.size(); i++) {
            if (!sameStructure(captured.get(i), now.get(i))) {
                return false;
            }
        }
        return true;
    }

    private static boolean sameStructure(StepOp a, StepOp b) {
        if (a instanceof Launch x && b instanceof Launch y) {
            if (!x.kernel.equals(y.kernel) || !x.grid.equals(y.grid) || !x.block.equals(y.block)
                    || x.sharedBytes != y.sharedBytes || x.args.length != y.args.length) {
                return false;
            }
            for (int i = 0; i < x.args.length; i++) {
                Object p = x.args[i], q = y.args[i];
                boolean pp = p == null || p instanceof DevicePtr, qp = q == null || q instanceof DevicePtr;
                if (pp != qp || pp && address(p) != address(q) || !pp && p.getClass() != q.getClass()) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Upload x && b instanceof Upload y) {
            return x.data.length == y.data.length && x.dst.address() == y.dst.address();
        }
        if (a instanceof Zero x && b instanceof Zero y) {
            return x.bytes == y.bytes && x.dst.address() == y.dst.address();
        }
        if (a instanceof Download x && b instanceof Download y) {
            return KernelRunner.byteSize(x.hostArray) == KernelRunner.byteSize(y.hostArray)
                    && x.src.address() == y.src.address();
        }
        return false;
    }

    /** Whether two launches of equal structure differ in a scalar argument (bit for bit: -0.0 differs from 0.0). */
    static boolean scalarsDiffer(Launch a, Launch b) {
        for (int i = 0; i < a.args.length; i++) {
            Object p = a.args[i], q = b.args[i];
            if (p instanceof Float f && Float.floatToRawIntBits(f) != Float.floatToRawIntBits((Float) q)
                    || p instanceof Double d && Double.doubleToRawLongBits(d) != Double.doubleToRawLongBits((Double) q)
                    || (p instanceof Integer || p instanceof Long) && !p.equals(q)) {
                return true;
            }
        }
        return false;
    }

    private static long address(Object p) {
        return p == null ? 0 : ((DevicePtr) p).address();
    }

    /** The bytes of a host array of the {@link KernelRunner#byteSize} types, little-endian (what a copy sends). */
    static byte[] bytes(Object hostArray) {
        if (hostArray instanceof byte[] a) {
            return a.clone();
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(KernelRunner.byteSize(hostArray))).order(ByteOrder.LITTLE_ENDIAN);
        if (hostArray instanceof float[] a) {
            b.asFloatBuffer().put(a);
        } else if (hostArray instanceof double[] a) {
            b.asDoubleBuffer().put(a);
        } else {
            b.asIntBuffer().put((int[]) hostArray);
        }
        return b.array();
    }

    /** Fills a host array of the {@link KernelRunner#byteSize} types from little-endian bytes. */
    static void fill(Object hostArray, ByteBuffer src) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (hostArray instanceof byte[] a) {
            b.get(a);
        } else if (hostArray instanceof float[] a) {
            b.asFloatBuffer().get(a);
        } else if (hostArray instanceof double[] a) {
            b.asDoubleBuffer().get(a);
        } else {
            b.asIntBuffer().get((int[]) hostArray);
        }
    }

    /** Issues {@code op} on {@code device} as the corresponding single call (eager, or the emulated graph's node). */
    static void run(StepOp op, KernelRunner device) {
        if (op instanceof Launch l) {
            device.launch(l.kernel, l.grid, l.block, l.sharedBytes, l.args);
        } else if (op instanceof Upload u) {
            device.toDevice(u.data, u.dst);
        } else if (op instanceof Zero z) {
            device.zero(z.dst, z.bytes);
        } else if (op instanceof Download d) {
            device.toHost(d.src, d.hostArray);
        }
    }

    /** "launch bn_apply_f32 grid 4x1x1 ..." for messages and tests. */
    static String describe(StepOp op) {
        if (op instanceof Launch l) {
            return "launch " + l.kernel + " " + Arrays.toString(l.args);
        }
        return op.toString();
    }
}
