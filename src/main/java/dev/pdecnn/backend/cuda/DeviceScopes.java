package dev.pdecnn.backend.cuda;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Where the device buffers of {@link CudaBackend}'s operations come from and how long they live: each operation
 * opens a {@link Scope} that resolves its tensors to device buffers (inputs and outputs; how long a buffer lives
 * follows the tensor's declaration, see {@link DeviceTensors}), hands out its scratch,
 * and returns the scratch when it closes. A step ends at {@link #endStep()}, which closing the device's
 * {@link dev.pdecnn.backend.StepArena.Step} calls. A view of the parameter store's flat tensors resolves to an
 * address inside its base's buffer. The kernel families never see tensors: they get the buffers resolved here.
 */
final class DeviceScopes {
    private final KernelRunner rt;
    private final DType dtype;
    private final DeviceTensors dt;
    /** The operation running now (for error messages); operations do not nest across threads. */
    private Scope current;

    DeviceScopes(KernelRunner runner, DType dtype, DeviceTensors tensors) {
        this.rt = runner;
        this.dtype = dtype;
        this.dt = tensors;
    }

    /** Starts an operation; {@code named} pairs each tensor with its name: "x", x, "w", w, ... */
    Scope op(String name, Object... named) {
        return new Scope(name, named);
    }

    /** The operation running now, for a kernel failure's message ("?" outside any). */
    String describeCurrent() {
        return current == null ? "?" : current.describe();
    }

    /** Ends the step now: its activations' buffers go back for the next step to reuse. */
    void endStep() {
        dt.endStep();
    }

    /** Every device-only value back to the host, every buffer returned (see {@link CudaDevice#releaseDevice()}). */
    void releaseAll() {
        dt.releaseAll();
    }

    void checkType(Tensor t) {
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("tensor " + t + " on a " + dtype + " CUDA backend");
        }
    }

    /**
     * One operation: its name and named tensors (for error messages) and its device buffers, freed together
     * when it ends.
     */
    final class Scope implements AutoCloseable, Scratch {
        private final String op;
        private final Object[] named;
        private final Scope outer;
        private final List<DevicePtr> owned = new ArrayList<>();

        /** {@code named}: name, tensor, name, tensor, ... (null tensors allowed). */
        Scope(String op, Object... named) {
            this.op = op;
            this.named = named;
            this.outer = current;
            current = this;
        }

        String nameOf(Tensor t) {
            for (int i = 0; i + 1 < named.length; i += 2) {
                if (named[i + 1] == t) {
                    return (String) named[i];
                }
            }
            return "a tensor";
        }

        /** "conv2dForward(x [2, 3, 32, 32], w [16, 3, 3, 3], y [2, 16, 32, 32]) F32". */
        String describe() {
            StringBuilder b = new StringBuilder(op).append('(');
            String sep = "";
            for (int i = 0; i + 1 < named.length; i += 2) {
                if (named[i + 1] instanceof Tensor t) {
                    b.append(sep).append(named[i]).append(' ').append(java.util.Arrays.toString(t.shape()));
                    sep = ", ";
                } else if (named[i + 1] != null) {
                    b.append(sep).append(named[i]).append(' ').append(named[i + 1]);
                    sep = ", ";
                }
            }
            return b.append(") ").append(dtype).toString();
        }

        /** Scratch for this operation only (from the step cache on a pool). */
        @Override
        public DevicePtr alloc(long bytes, String what) {
            DevicePtr p = dt.take(Math.max(bytes, 1), () -> what + " of " + describe());
            owned.add(p);
            return p;
        }

        /**
         * The device buffer of an input (null for null), uploaded only when the host copy is newer; resident for the
         * run when the tensor is declared state, else a step buffer (see {@link DeviceTensors}).
         */
        DevicePtr in(Tensor t) {
            return device(t, true);
        }

        /** The device buffer of an output the kernels write (null for null); {@link #back} marks it written. */
        DevicePtr out(Tensor t) {
            return device(t, false);
        }

        private DevicePtr device(Tensor t, boolean read) {
            if (t == null) {
                return DevicePtr.NULL;
            }
            checkType(t);
            Supplier<String> what = () -> tensorLabel(t) + " of " + describe();
            if (t.base() != null) {
                // a window of a parameter-store tensor: the view is an address inside its flat base, which is read
                // (a write into the window keeps the rest) and, declared state, stays on the device for the run
                DevicePtr b = dt.input(t.base(), what);
                return new DevicePtr(b.address() + (long) t.offset() * dtype.bytes, (long) t.size() * dtype.bytes);
            }
            if (t.aliased()) {
                // a reshape view shares the host array: copy in and out per operation, never resident
                dt.evict(t);
                DevicePtr p = alloc((long) t.size() * dtype.bytes, tensorLabel(t));
                if (read) {
                    rt.toDevice(t.hostArray(), p);
                }
                return p;
            }
            return read ? dt.input(t, what) : dt.output(t, what);
        }

        private String tensorLabel(Tensor t) {
            return "tensor " + nameOf(t) + " " + java.util.Arrays.toString(t.shape());
        }

        @Override
        public DevicePtr elems(long n, String what) {
            return alloc(n * dtype.bytes, what);
        }

        DevicePtr ints(int[] a, String what) {
            DevicePtr p = alloc(4L * a.length, what);
            if (a.length > 0) {
                rt.toDevice(a, p);
            }
            return p;
        }

        /** The kernels wrote {@code t} (its buffer {@code p}): the device copy is the current one. */
        void back(DevicePtr p, Tensor t) {
            if (t == null) {
                return;
            }
            if (t.base() != null) {
                dt.written(t.base());
            } else if (t.aliased()) {
                rt.toHost(p, t.hostArray());
            } else {
                dt.written(t);
            }
        }

        @Override
        public void close() {
            current = outer;
            for (int i = owned.size() - 1; i >= 0; i--) {
                dt.giveScratch(owned.get(i));
            }
        }
    }
}
