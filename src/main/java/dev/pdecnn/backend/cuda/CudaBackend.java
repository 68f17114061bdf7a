package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The {@link Backend} on CUDA kernels ({@code src/main/cuda}), through a {@link KernelRunner}: a GPU via
 * JCuda, or the host emulation in tests. This class owns every launch decision — kernel choice, grid, block,
 * shared memory, scratch buffers — so the host equality tests exercise exactly the launches a GPU gets.
 *
 * <p><b>Device residency.</b> Tensors are ordinary {@link Tensor}s, so the model code of the CPU engine runs
 * unchanged; the first operation that touches a tensor attaches a device copy to it ({@link DeviceTensors}:
 * a buffer plus host-valid / device-valid flags). Operations read inputs from the device copy, uploading only
 * when the host copy is newer (a fresh batch, a weight the host wrote), and write outputs on the device only;
 * host code that reads a tensor ({@code get}, {@code f32()}, ...) downloads it then, and host code that may write
 * it marks the device copy stale. Zero fills (the gradients' {@code zeroGrad}) run as device memsets, and the
 * zeros this backend creates ({@link #zeros}, {@code zerosLike()} of a device tensor) get no host array unless
 * host code reads them, so activations cost no host memory. A training step therefore copies the images and
 * the labels in and the per-sample losses and the predictions out, nothing else (tested for every model with a
 * counting runner).
 *
 * <p>Lifetimes follow the role a tensor plays in an operation: weights, gradients, velocities and batch-norm
 * statistics are <em>persistent</em> (on the device for the whole run; the SGD step runs there), everything else
 * is a <em>step</em> tensor whose buffer is reused by the next step. A step ends when its {@link StepArena.Step}
 * closes ({@link #endStep()}); an activation of an ended step that only the device held can no longer be read (an
 * {@link IllegalStateException} says so). A view of the parameter store's flat tensors is an address inside its
 * base's buffer, which stays on the device for the run. {@link #releaseDevice()} brings every device-only value back to the
 * host and returns all buffers (CudaSession does this on close). A {@link Tensor#reshape} view shares its host
 * array and is never kept resident: it is copied in and out per operation, as every tensor was before.
 *
 * <p>Device buffers come from a {@link DeviceMemory}: a pool allocated once at start on a GPU (no driver
 * allocation per step), or a budget of separate, bounds-checked allocations on the host emulation. On a pool,
 * step buffers and per-operation scratch go back to a size-keyed cache instead of the pool, so after the first
 * step no step takes a block from the pool (tested over 100 steps). A failure names its context: an
 * out-of-memory error the operation, the tensor (by its role and shape) and the bytes requested and free; a
 * kernel failure the kernel, its launch configuration and the shapes of the operation's tensors.
 *
 * <p>{@link #stage} starts the next batch's upload from a page-locked buffer on the runner's copy stream while
 * the current step runs (the Trainer stages every training batch); the first operation that reads it waits.
 *
 * <p>One thread runs the operations and reads the tensors (the Trainer's); launches are synchronous.
 *
 * <p>F32 tensors run the {@code _f32} kernels and F64 tensors the {@code _f64} ones.
 */
public final class CudaBackend implements Backend {
    /** Threads per block of the one-dimensional kernels (PDECNN_THREADS in common.cuh). */
    static final int THREADS = 256;
    /** Grid cap of the grid-stride kernels. */
    static final int MAX_BLOCKS = 4096;
    /** Points per thread of the fused PDE kernels (PDE_RMAX in pde.cu) and their most threads per block. */
    static final int PDE_RMAX = 4;
    static final int PDE_MAX_THREADS = 256;
    /** Tile of the GEMM kernels (gemm.cuh): 64 x 64 outputs per block of 256 threads. */
    static final int TILE = 64;
    /** Roughly how many blocks keep a large GPU busy; used to split long reductions. */
    static final int TARGET_BLOCKS = 512;

    /** How convolutions run: implicit GEMM (tiled, for grouped convs with many channels per group) or direct. */
    public enum ConvAlgo { AUTO, DIRECT, GEMM }

    /**
     * Launch policy. {@code maxSharedBytes}: the dynamic shared memory a block may use (the runner's limit by
     * default); {@code pdeStepKernels}: always use the per-step PDE kernels (normally only for planes that do
     * not fit a block); {@code conv}: convolution algorithm.
     */
    public record Options(int maxSharedBytes, boolean pdeStepKernels, ConvAlgo conv) {
        public Options withPdeStepKernels(boolean b) {
            return new Options(maxSharedBytes, b, conv);
        }

        public Options withConv(ConvAlgo c) {
            return new Options(maxSharedBytes, pdeStepKernels, c);
        }

        public Options withMaxShared(int bytes) {
            return new Options(bytes, pdeStepKernels, conv);
        }
    }

    private final KernelRunner rt;
    private final DeviceMemory mem;
    private final DType dtype;
    private final String sfx;
    private final Options opt;
    private final DeviceTensors dt;
    /** Set when a training step (or an evaluation batch) is over: the next operation recycles its tensors. */
    /** Step tensors are fresh unallocated tensors; closing a step returns their device buffers ({@link #endStep}). */
    private final StepArena arena = StepArena.fresh(this::zeros, this::endStep);
    /** The operation running now (for error messages); operations do not nest across threads. */
    private Scope current;

    /** Direct allocations from the runner, bounds-checked there, without a budget. */
    public CudaBackend(KernelRunner runner, DType dtype) {
        this(runner, dtype, defaultOptions(runner));
    }

    public CudaBackend(KernelRunner runner, DType dtype, Options options) {
        this(DeviceMemory.checked(runner, Long.MAX_VALUE), dtype, options);
    }

    /** Buffers from {@code memory} (a pool, or a checked budget), default launch options. */
    public CudaBackend(DeviceMemory memory, DType dtype) {
        this(memory, dtype, defaultOptions(memory.runner()));
    }

    public CudaBackend(DeviceMemory memory, DType dtype, Options options) {
        KernelRunner runner = memory.runner();
        this.rt = runner;
        this.mem = memory;
        this.dtype = dtype;
        this.sfx = dtype == DType.F32 ? "_f32" : "_f64";
        this.opt = options;
        this.dt = new DeviceTensors(memory);
        if (options.maxSharedBytes() > runner.maxSharedBytesPerBlock()) {
            throw new IllegalArgumentException("shared-memory budget " + options.maxSharedBytes() + " exceeds the runner's "
                    + runner.maxSharedBytesPerBlock());
        }
    }

    @Override
    public DType dtype() {
        return dtype;
    }

    /**
     * Zeros without a host array: the model code's activations live on the device and never cost host memory
     * (the array appears if host code reads the tensor). {@code zerosLike()} of a device tensor does the same.
     */
    @Override
    public Tensor zeros(int... shape) {
        return Tensor.unallocated(dtype, shape);
    }

    public static Options defaultOptions(KernelRunner runner) {
        return new Options(runner.maxSharedBytesPerBlock(), false, ConvAlgo.AUTO);
    }

    public KernelRunner runner() {
        return rt;
    }

    /** Where this backend's device buffers come from, with its accounting. */
    /** Waits for every queued launch and copy (timing; the GPU runner queues launches). */
    @Override
    public void synchronize() {
        rt.synchronize();
    }

    public DeviceMemory memory() {
        return mem;
    }

    public Options options() {
        return opt;
    }

    @Override
    public StepArena arena() {
        return arena;
    }

    @Override
    public String memorySummary() {
        return mem.summary();
    }

    /** Starts the batch's upload ({@link #stage}). */
    @Override
    public void prefetch(Tensor batch) {
        stage(batch);
    }

    /**
     * Ends a step now: the buffers of its activations go back for the next step to reuse (in the same order, so
     * at the same addresses). Closing a {@link StepArena.Step} of this backend calls it.
     */
    public void endStep() {
        dt.endStep();
    }

    /**
     * Brings every tensor whose values only the device holds back to the host, detaches all device copies and
     * returns every buffer to {@link #memory()}: afterwards nothing of this backend is on the device. The backend
     * stays usable; its next operation uploads what it needs again.
     */
    public void releaseDevice() {
        dt.releaseAll();
    }

    /**
     * Starts uploading {@code batch} — a host tensor the next step reads, typically the next training batch —
     * through a page-locked staging buffer on the runner's copy stream, so the copy overlaps the current step on
     * a GPU (the emulation copies at once). The first operation that reads it waits for the copy; it is then a
     * step tensor of that step. Returns false, doing nothing, when the tensor cannot be staged (it already has a
     * device copy, is a reshape view, or has no host array) or device memory is short; the operation that reads
     * it then uploads it as usual.
     */
    public boolean stage(Tensor batch) {
        checkType(batch);
        return dt.stage(batch, () -> {
            String shape = java.util.Arrays.toString(batch.shape());
            return "tensor batch " + shape + " of stage(batch " + shape + ") " + dtype;
        });
    }

    /** Device bytes held by tensors: parameters, gradients, velocities, statistics, the current step's activations. */
    public long residentBytes() {
        return dt.residentBytes();
    }

    /** Device bytes of returned step buffers kept for reuse (on a pool). */
    public long cachedBytes() {
        return dt.cachedBytes();
    }

    /** Host-to-device copies of tensors made so far (uploads of host-newer data; batches, first use of weights). */
    public long tensorUploads() {
        return dt.uploads;
    }

    /** Device-to-host copies of tensors made so far (lazy downloads when host code reads a device tensor). */
    public long tensorDownloads() {
        return dt.downloads;
    }

    // ------------------------------------------------------------------------------------- device scope

    /**
     * One operation: its name and named tensors (for error messages) and its device buffers, freed together
     * when it ends.
     */
    private final class Scope implements AutoCloseable {
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
        DevicePtr alloc(long bytes, String what) {
            DevicePtr p = dt.take(Math.max(bytes, 1), () -> what + " of " + describe());
            owned.add(p);
            return p;
        }

        /** The device buffer of an activation input (null for null): uploaded only when the host copy is newer. */
        DevicePtr in(Tensor t) {
            return device(t, false, true);
        }

        /** As {@link #in}, for a parameter-like tensor that stays on the device for the whole run. */
        DevicePtr param(Tensor t) {
            return device(t, true, true);
        }

        /** The device buffer of an activation the kernels write (null for null); {@link #back} marks it written. */
        DevicePtr out(Tensor t) {
            return device(t, false, false);
        }

        /** As {@link #out}, for a parameter-like tensor (saved batch-norm statistics). */
        DevicePtr paramOut(Tensor t) {
            return device(t, true, false);
        }

        private DevicePtr device(Tensor t, boolean persistent, boolean read) {
            if (t == null) {
                return DevicePtr.NULL;
            }
            checkType(t);
            Supplier<String> what = () -> tensorLabel(t) + " of " + describe();
            if (t.base() != null) {
                // a window of a parameter-store tensor: the flat base stays on the device for the run (read, since
                // a write into the window keeps the rest), the view is an address inside it
                DevicePtr b = dt.input(t.base(), true, what);
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
            return read ? dt.input(t, persistent, what) : dt.output(t, persistent, what);
        }

        private String tensorLabel(Tensor t) {
            return "tensor " + nameOf(t) + " " + java.util.Arrays.toString(t.shape());
        }

        DevicePtr elems(long n, String what) {
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
                dt.give(owned.get(i));
            }
        }
    }

    /** Starts an operation; {@code named} pairs each tensor with its name: "x", x, "w", w, ... */
    private Scope op(String name, Object... named) {
        return new Scope(name, named);
    }

    private void checkType(Tensor t) {
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("tensor " + t + " on a " + dtype + " CUDA backend");
        }
    }

    private void launch(String kernel, Dim3 grid, Dim3 block, int shared, Object... args) {
        String name = kernel + sfx;
        try {
            rt.launch(name, grid, block, shared, args);
        } catch (DeviceOutOfMemoryException e) {
            throw e;
        } catch (KernelException e) {
            throw new KernelException("kernel " + name + " failed in " + (current == null ? "?" : current.describe())
                    + ", grid " + dims(grid) + " block " + dims(block) + " shared " + shared + " B on "
                    + rt.description() + ": " + e.getMessage(), e);
        }
    }

    private static String dims(Dim3 d) {
        return d.x() + "x" + d.y() + "x" + d.z();
    }

    /** A grid-stride kernel over n items with THREADS threads per block. */
    private void launch1d(String kernel, long n, Object... args) {
        int blocks = (int) Math.max(1, Math.min(MAX_BLOCKS, (n + THREADS - 1) / THREADS));
        launch(kernel, Dim3.of(blocks), Dim3.of(THREADS), 0, args);
    }

    private static int ceilDiv(long a, long b) {
        return (int) ((a + b - 1) / b);
    }

    // ---------------------------------------------------------------------------------- convolution

    private record ConvGeom(int n, int c, int h, int w, int co, int kh, int kw, int ho, int wo, ConvSpec s) {
        int g() {
            return s.groups();
        }

        int cg() {
            return c / s.groups();
        }

        int cog() {
            return co / s.groups();
        }

        Object[] dims() {
            return new Object[]{n, c, h, w, co, kh, kw, s.stride(), s.pad(), s.groups(), ho, wo};
        }
    }

    private static ConvGeom geom(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        int n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int co = w.dim(0), kh = w.dim(2), kw = w.dim(3), g = s.groups();
        int ho = s.outSize(h, kh), wo = s.outSize(wd, kw);
        if (x.rank() != 4 || w.rank() != 4 || y.rank() != 4 || c % g != 0 || co % g != 0 || w.dim(1) != c / g
                || y.dim(0) != n || y.dim(1) != co || y.dim(2) != ho || y.dim(3) != wo) {
            throw new IllegalArgumentException("conv shapes x=" + x + " w=" + w + " y=" + y + " " + s);
        }
        return new ConvGeom(n, c, h, wd, co, kh, kw, ho, wo, s);
    }

    private boolean gemmConv(ConvGeom g) {
        return switch (opt.conv()) {
            case GEMM -> true;
            case DIRECT -> false;
            case AUTO -> g.cg() * g.kh() * g.kw() >= 8 && g.cog() >= 8;
        };
    }

    private static Object[] concat(Object[] a, Object... b) {
        Object[] r = new Object[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        ConvGeom g = geom(x, w, y, s);
        try (Scope sc = op("conv2dForward", "x", x, "w", w, "y", y, "stride", s.stride(), "pad", s.pad(),
                "groups", s.groups())) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), Y = sc.out(y);
            Object[] args = concat(new Object[]{X, Wt, Y}, g.dims());
            if (gemmConv(g)) {
                launch("conv_forward_gemm", Dim3.of(ceilDiv((long) g.n() * g.ho() * g.wo(), TILE), ceilDiv(g.cog(), TILE),
                        g.g()), Dim3.of(THREADS), 0, args);
            } else {
                launch1d("conv_forward_direct", (long) y.size(), args);
            }
            sc.back(Y, y);
        }
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        ConvGeom g = geom(x, w, gy, s);
        try (Scope sc = op("conv2dBackward", "x", x, "w", w, "gy", gy, "gx", gx, "gw", gw, "stride", s.stride(),
                "pad", s.pad(), "groups", s.groups())) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), GY = sc.in(gy);
            boolean gemm = gemmConv(g);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                Object[] args = concat(new Object[]{GY, Wt, GX}, g.dims());
                if (gemm) {
                    launch("conv_backward_data_gemm", Dim3.of(ceilDiv((long) g.n() * g.h() * g.w(), TILE),
                            ceilDiv(g.cg(), TILE), g.g()), Dim3.of(THREADS), 0, args);
                } else {
                    launch1d("conv_backward_data_direct", (long) gx.size(), args);
                }
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.param(gw); // accumulated
                if (gemm) {
                    int cols = g.cg() * g.kh() * g.kw();
                    long red = (long) g.n() * g.ho() * g.wo();
                    int tiles = ceilDiv(cols, TILE) * ceilDiv(g.cog(), TILE) * g.g();
                    int splits = (int) Math.max(1, Math.min(Math.max(1, TARGET_BLOCKS / tiles), red / 256));
                    DevicePtr part = sc.elems((long) splits * w.size(), "filter-gradient partials");
                    launch("conv_backward_filter_gemm", Dim3.of(ceilDiv(cols, TILE), ceilDiv(g.cog(), TILE),
                            g.g() * splits), Dim3.of(THREADS), 0, concat(new Object[]{X, GY, part}, concat(g.dims(), splits)));
                    launch1d("add_partials", w.size(), part, splits, w.size(), GW);
                } else {
                    launch("conv_backward_filter_direct", Dim3.of(w.size()), Dim3.of(THREADS), 0,
                            concat(new Object[]{X, GY, GW}, g.dims()));
                }
                sc.back(GW, gw);
            }
        }
    }

    // ----------------------------------------------------------------------------------- batch norm

    private int bnSplits(int c, long perChannel) {
        return (int) Math.max(1, Math.min(Math.max(1, TARGET_BLOCKS / c), ceilDiv(perChannel, 4L * THREADS)));
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double momentum,
                               double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        batchNormTrain("batchNormTrain", false, x, gamma, beta, runMean, runVar, momentum, eps, y, saveMean, saveInvStd);
    }

    /** relu(batch norm) in one pass (bn_apply with its ReLU on): no temporary, one launch fewer. */
    @Override
    public void batchNormReluTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar,
                                   double momentum, double eps, Tensor y, Tensor saveMean, Tensor saveInvStd) {
        batchNormTrain("batchNormReluTrain", true, x, gamma, beta, runMean, runVar, momentum, eps, y, saveMean,
                saveInvStd);
    }

    private void batchNormTrain(String name, boolean relu, Tensor x, Tensor gamma, Tensor beta, Tensor runMean,
                                Tensor runVar, double momentum, double eps, Tensor y, Tensor saveMean,
                                Tensor saveInvStd) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        int splits = bnSplits(c, (long) n * hw);
        try (Scope sc = op(name, "x", x, "gamma", gamma, "beta", beta, "running_mean", runMean,
                "running_var", runVar, "y", y, "save_mean", saveMean, "save_invstd", saveInvStd)) {
            DevicePtr X = sc.in(x), G = sc.param(gamma), B = sc.param(beta), RM = sc.param(runMean), RV = sc.param(runVar);
            DevicePtr Y = sc.out(y), SM = sc.paramOut(saveMean), SI = sc.paramOut(saveInvStd);
            DevicePtr part = sc.alloc(16L * c * splits, "partial sums"), ss = sc.elems(2L * c, "scale/shift");
            launch("bn_partial_sums", Dim3.of(splits, c, 1), Dim3.of(THREADS), 0, X, n, c, hw, splits, part);
            launch("bn_train_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, part, splits, X, c, hw,
                    (double) n * hw, G, B, RM, RV, momentum, eps, SM, SI, ss);
            launch1d("bn_apply", x.size(), X, ss, Y, n, c, hw, relu ? 1 : 0);
            sc.back(Y, y);
            sc.back(SM, saveMean);
            sc.back(SI, saveInvStd);
            sc.back(RM, runMean);
            sc.back(RV, runVar);
        }
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                              Tensor y) {
        batchNormEval("batchNormEval", false, x, gamma, beta, runMean, runVar, eps, y);
    }

    @Override
    public void batchNormReluEval(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, double eps,
                                  Tensor y) {
        batchNormEval("batchNormReluEval", true, x, gamma, beta, runMean, runVar, eps, y);
    }

    private void batchNormEval(String name, boolean relu, Tensor x, Tensor gamma, Tensor beta, Tensor runMean,
                               Tensor runVar, double eps, Tensor y) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        try (Scope sc = op(name, "x", x, "gamma", gamma, "beta", beta, "running_mean", runMean,
                "running_var", runVar, "y", y)) {
            DevicePtr X = sc.in(x), G = sc.param(gamma), B = sc.param(beta), RM = sc.param(runMean), RV = sc.param(runVar);
            DevicePtr Y = sc.out(y), ss = sc.elems(2L * c, "scale/shift");
            launch("bn_eval_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, G, B, RM, RV, c, eps, ss);
            launch1d("bn_apply", x.size(), X, ss, Y, n, c, hw, relu ? 1 : 0);
            sc.back(Y, y);
        }
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor gx,
                                  Tensor gGamma, Tensor gBeta) {
        batchNormBackward("batchNormBackward", x, null, gy, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    /** The ReLU backward (gy where y > 0) is applied inside the two BN backward passes: no temporary. */
    @Override
    public void batchNormReluBackward(Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                      Tensor gx, Tensor gGamma, Tensor gBeta) {
        batchNormBackward("batchNormReluBackward", x, y, gy, gamma, saveMean, saveInvStd, gx, gGamma, gBeta);
    }

    /** {@code y} null: plain batch norm; else the output of the fused ReLU, masking gy. */
    private void batchNormBackward(String name, Tensor x, Tensor y, Tensor gy, Tensor gamma, Tensor saveMean,
                                   Tensor saveInvStd, Tensor gx, Tensor gGamma, Tensor gBeta) {
        int n = x.dim(0), c = x.dim(1), hw = x.size() / (n * c);
        int splits = bnSplits(c, (long) n * hw);
        try (Scope sc = y == null
                ? op(name, "x", x, "gy", gy, "gamma", gamma, "save_mean", saveMean, "save_invstd", saveInvStd, "gx", gx,
                "ggamma", gGamma, "gbeta", gBeta)
                : op(name, "x", x, "y", y, "gy", gy, "gamma", gamma, "save_mean", saveMean, "save_invstd", saveInvStd,
                "gx", gx, "ggamma", gGamma, "gbeta", gBeta)) {
            DevicePtr X = sc.in(x), GY = sc.in(gy), G = sc.param(gamma), SM = sc.param(saveMean), SI = sc.param(saveInvStd);
            DevicePtr Y = y == null ? DevicePtr.NULL : sc.in(y);
            DevicePtr GG = sc.param(gGamma), GB = sc.param(gBeta);
            DevicePtr part = sc.alloc(16L * c * splits, "partial sums"), coef = sc.elems(3L * c, "coefficients");
            launch("bn_backward_partial", Dim3.of(splits, c, 1), Dim3.of(THREADS), 0, X, GY, Y, SM, n, c, hw, splits,
                    part);
            launch("bn_backward_finalize", Dim3.of(ceilDiv(c, THREADS)), Dim3.of(THREADS), 0, part, splits, c,
                    (double) n * hw, G, SM, SI, GG, GB, coef);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                launch1d("bn_backward_apply", x.size(), X, GY, Y, coef, GX, n, c, hw);
                sc.back(GX, gx);
            }
            sc.back(GG, gGamma);
            sc.back(GB, gBeta);
        }
    }

    // ------------------------------------------------------------------ element-wise, pooling, dense, loss

    @Override
    public void relu(Tensor x, Tensor y) {
        try (Scope sc = op("relu", "x", x, "y", y)) {
            DevicePtr X = sc.in(x), Y = sc.out(y);
            launch1d("relu", x.size(), X, Y, x.size());
            sc.back(Y, y);
        }
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        try (Scope sc = op("reluBackward", "y", y, "gy", gy, "gx", gx)) {
            DevicePtr Y = sc.in(y), GY = sc.in(gy), GX = sc.out(gx);
            launch1d("relu_backward", y.size(), Y, GY, GX, y.size());
            sc.back(GX, gx);
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        binary("add", "add", a, b, y);
    }

    /** relu(a + b) in one pass (add_relu); a is left as it is. */
    @Override
    public void addRelu(Tensor a, Tensor b, Tensor y) {
        binary("addRelu", "add_relu", a, b, y);
    }

    /** y = kernel(a, b) element-wise over equal sizes (y may alias a or b). */
    private void binary(String name, String kernel, Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException(name + " shapes " + a + " " + b + " " + y);
        }
        try (Scope sc = op(name, "a", a, "b", b, "y", y)) {
            DevicePtr A = sc.in(a), B = sc.in(b), Y = sc.out(y);
            launch1d(kernel, a.size(), A, B, Y, a.size());
            sc.back(Y, y);
        }
    }

    @Override
    public void avgPool(Tensor x, int k, Tensor y) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        if (h % k != 0 || w % k != 0 || y.dim(2) != h / k || y.dim(3) != w / k) {
            throw new IllegalArgumentException("avgPool " + k + " on " + x + " -> " + y);
        }
        try (Scope sc = op("avgPool", "x", x, "y", y, "k", k)) {
            DevicePtr X = sc.in(x), Y = sc.out(y);
            launch1d("avg_pool", y.size(), X, Y, planes, h, w, k);
            sc.back(Y, y);
        }
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        int planes = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3);
        try (Scope sc = op("avgPoolBackward", "gy", gy, "gx", gx, "k", k)) {
            DevicePtr GY = sc.in(gy), GX = sc.out(gx);
            launch1d("avg_pool_backward", gx.size(), GY, GX, planes, h, w, k);
            sc.back(GX, gx);
        }
    }

    @Override
    public void dense(Tensor x, Tensor w, Tensor b, Tensor y) {
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        if (w.dim(1) != in || y.size() != n * out) {
            throw new IllegalArgumentException("dense shapes x=" + x + " w=" + w + " y=" + y);
        }
        try (Scope sc = op("dense", "x", x, "w", w, "b", b, "y", y)) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), B = sc.param(b), Y = sc.out(y);
            launch("dense_forward", Dim3.of(ceilDiv(out, TILE), ceilDiv(n, TILE), 1), Dim3.of(THREADS), 0, X, Wt, B, Y,
                    n, in, out);
            sc.back(Y, y);
        }
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        try (Scope sc = op("denseBackward", "x", x, "w", w, "gy", gy, "gx", gx, "gw", gw, "gb", gb)) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), GY = sc.in(gy);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                launch("dense_backward_data", Dim3.of(ceilDiv(in, TILE), ceilDiv(n, TILE), 1), Dim3.of(THREADS), 0, GY, Wt,
                        GX, n, in, out);
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.param(gw);
                launch("dense_backward_filter", Dim3.of(ceilDiv(in, TILE), ceilDiv(out, TILE), 1), Dim3.of(THREADS), 0, GY,
                        X, GW, n, in, out);
                sc.back(GW, gw);
            }
            if (gb != null) {
                DevicePtr GB = sc.param(gb);
                launch1d("col_sum", out, GY, n, out, GB);
                sc.back(GB, gb);
            }
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        int n = logits.dim(0), k = logits.size() / n;
        for (int y : labels) {
            if (y < 0 || y >= k) {
                throw new IllegalArgumentException("label " + y + " outside [0, " + k + ")");
            }
        }
        try (Scope sc = op("softmaxCrossEntropy", "logits", logits, "glogits", gLogits)) {
            DevicePtr L = sc.in(logits), Y = sc.ints(labels, "labels"), G = sc.out(gLogits);
            DevicePtr P = predictions == null ? DevicePtr.NULL : sc.alloc(4L * n, "predictions");
            DevicePtr loss = sc.alloc(8L * n, "per-sample losses");
            launch("softmax_xent", Dim3.of(ceilDiv(n, 128)), Dim3.of(128), 0, L, Y, n, k, G, P, loss);
            double[] per = new double[n];
            rt.toHost(loss, per);
            double total = 0;
            for (double v : per) {
                total += v;
            }
            sc.back(G, gLogits);
            if (predictions != null) {
                int[] p = new int[n];
                rt.toHost(P, p);
                System.arraycopy(p, 0, predictions, 0, n);
            }
            return total / n;
        }
    }

    // ------------------------------------------------------------------------------ Global layer (PDE)

    /**
     * How the PDE runs for one shape: fused (a block owns {@code ppb} whole planes, {@code threads} threads,
     * {@code shared} bytes) or, when {@code fused} is false, per-step kernels on global memory.
     */
    public record PdePlan(boolean fused, int ppb, int threads, int blocks, int shared) {
    }

    /** The launch plan of {@link #pdeForward} ({@code backward} false) or {@link #pdeBackward}. */
    public PdePlan pdePlan(int planes, int h, int w, int k, boolean backward) {
        int hw = h * w;
        int perPlane = (backward ? k + 6 : 2) * hw * dtype.bytes;
        int ppb = hw >= PDE_MAX_THREADS ? 1 : Math.max(1, Math.min(planes, PDE_MAX_THREADS / hw));
        while (ppb > 1 && (long) ppb * perPlane > opt.maxSharedBytes()) {
            ppb--;
        }
        int slots = ppb * hw;
        boolean fused = !opt.pdeStepKernels() && slots <= PDE_RMAX * PDE_MAX_THREADS
                && (long) ppb * perPlane <= opt.maxSharedBytes();
        if (!fused) {
            return new PdePlan(false, 0, THREADS, 0, 0);
        }
        int r = ceilDiv(slots, PDE_MAX_THREADS);
        int threads = Math.min(PDE_MAX_THREADS, ceilDiv(ceilDiv(slots, r), 32) * 32);
        return new PdePlan(true, ppb, threads, ceilDiv(planes, ppb), ppb * perPlane);
    }

    private static void checkPde(Tensor f, Tensor... others) {
        for (Tensor t : others) {
            if (t != null && !t.sameShape(f)) {
                throw new IllegalArgumentException("PDE tensors must share a shape: " + f + " vs " + t);
            }
        }
        if (f.rank() != 4) {
            throw new IllegalArgumentException("PDE tensors are NCHW, got " + f);
        }
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                           Tensor out) {
        checkPde(f, h, u, v, dX, dY, out);
        if ((u == null) != (v == null) || (dX == null) != (dY == null)) {
            throw new IllegalArgumentException("u and v, and dX and dY, are both given or both null");
        }
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), k = s.steps();
        PdePlan plan = pdePlan(planes, hh, w, k, false);
        try (Scope sc = op("pdeForward", "f", f, "h", h, "u", u, "v", v, "Dx", dX, "Dy", dY, "out", out, "K", k)) {
            DevicePtr F = sc.in(f), H = sc.in(h), U = sc.in(u), V = sc.in(v), DX = sc.in(dX), DY = sc.in(dY);
            DevicePtr O = sc.out(out);
            if (plan.fused()) {
                launch("pde_forward_fused", Dim3.of(plan.blocks()), Dim3.of(plan.threads()), plan.shared(), F, H, U, V,
                        DX, DY, dConst, planes, hh, w, k, s.dt(), s.dx(), s.dy(), plan.ppb(), O);
            } else {
                long n = f.size();
                DevicePtr a = sc.elems(n, "PDE state"), b = k > 2 ? sc.elems(n, "PDE state") : DevicePtr.NULL;
                DevicePtr prev = F, cur = H;
                for (int step = 0; step < k; step++) {
                    DevicePtr next = step == k - 1 ? O : step % 2 == 0 ? a : b;
                    launch1d("pde_step", n, F, U, V, DX, DY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), prev, cur, next);
                    prev = cur;
                    cur = next;
                }
            }
            sc.back(O, out);
        }
    }

    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                            Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        checkPde(f, h, u, v, dX, dY, gOut, gf, gh, gu, gv, gDx, gDy);
        if ((u == null) != (v == null) || (dX == null) != (dY == null) || (gu == null) != (gv == null)
                || (gDx == null) != (gDy == null)) {
            throw new IllegalArgumentException("u/v, dX/dY, gu/gv and gDx/gDy come in pairs: both given or both null");
        }
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), k = s.steps();
        PdePlan plan = pdePlan(planes, hh, w, k, true);
        try (Scope sc = op("pdeBackward", "f", f, "h", h, "u", u, "v", v, "Dx", dX, "Dy", dY, "gout", gOut, "gf", gf,
                "gh", gh, "gu", gu, "gv", gv, "gDx", gDx, "gDy", gDy, "K", k)) {
            DevicePtr F = sc.in(f), H = sc.in(h), U = sc.in(u), V = sc.in(v), DX = sc.in(dX), DY = sc.in(dY);
            DevicePtr GO = sc.in(gOut);
            DevicePtr GF = sc.out(gf), GH = sc.out(gh), GU = sc.out(gu), GV = sc.out(gv), GDX = sc.out(gDx), GDY = sc.out(gDy);
            if (plan.fused()) {
                launch("pde_backward_fused", Dim3.of(plan.blocks()), Dim3.of(plan.threads()), plan.shared(), F, H, U, V,
                        DX, DY, dConst, planes, hh, w, k, s.dt(), s.dx(), s.dy(), plan.ppb(), GO, GF, GH, GU, GV, GDX, GDY);
            } else {
                long n = f.size(), bytes = n * dtype.bytes;
                // the K-1 intermediate states H(1) .. H(K-1)
                DevicePtr states = k > 1 ? sc.elems((k - 1) * n, "PDE states H(1)..H(K-1)") : DevicePtr.NULL;
                DevicePtr[] st = new DevicePtr[k + 1]; // st[j] = H(j - 1)
                st[0] = F;
                st[1] = H;
                for (int j = 2; j <= k; j++) {
                    st[j] = states.plus((j - 2) * bytes);
                }
                for (int step = 0; step + 1 < k; step++) {
                    launch1d("pde_step", n, F, U, V, DX, DY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), st[step],
                            st[step + 1], st[step + 2]);
                }
                DevicePtr gNext = GO, gCur = sc.elems(n, "adjoint"), gPrev = sc.elems(n, "adjoint"), spare = sc.elems(n, "adjoint");
                DevicePtr gc = sc.elems(7 * n, "coefficient gradients");
                for (int step = k - 1; step >= 0; step--) {
                    launch1d("pde_adjoint_step", n, U, V, DX, DY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), st[step],
                            st[step + 1], gNext, gCur, gPrev, gc, step == k - 1 ? 1 : 0);
                    DevicePtr freed = gNext == GO ? spare : gNext;
                    gNext = gCur;
                    gCur = gPrev;
                    gPrev = freed;
                }
                // gNext = G(0), gCur = G(-1)
                DevicePtr gE = gPrev;
                launch1d("pde_grad_chain", n, F, U, V, DX, DY, dConst, planes, hh, w, s.dt(), s.dx(), s.dy(), gc, gCur,
                        gNext, GF, GH, GU, GV, GDX, GDY, gE);
                if (gu != null) {
                    launch1d("pde_grad_e", n, gE, planes, hh, w, s.dt(), s.dx(), s.dy(), GU, GV);
                }
            }
            sc.back(GF, gf);
            sc.back(GH, gh);
            sc.back(GU, gu);
            sc.back(GV, gv);
            sc.back(GDX, gDx);
            sc.back(GDY, gDy);
        }
    }

    // ------------------------------------------------------------------------------------ Perona–Malik

    private static void checkReflect(Tensor h) {
        if (h.dim(2) < 2 || h.dim(3) < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + h.dim(2) + "x" + h.dim(3));
        }
    }

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        checkReflect(h);
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3);
        try (Scope sc = op("peronaMalik", "h", h, "Dx", dX, "Dy", dY)) {
            DevicePtr H = sc.in(h), DX = sc.out(dX), DY = sc.out(dY);
            launch1d("pm_forward", h.size(), H, planes, hh, w, 1.0 / (lambda * lambda), DX, DY);
            sc.back(DX, dX);
            sc.back(DY, dY);
        }
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        checkReflect(h);
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3);
        try (Scope sc = op("peronaMalikBackward", "h", h, "gDx", gDx, "gDy", gDy, "gh", gh)) {
            DevicePtr H = sc.in(h), GDX = sc.in(gDx), GDY = sc.in(gDy), GH = sc.in(gh);
            launch1d("pm_backward", h.size(), H, planes, hh, w, 1.0 / (lambda * lambda), GDX, GDY, GH);
            sc.back(GH, gh);
        }
    }

    // -------------------------------------------------------------------------------------- optimizer

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        try (Scope sc = op("sgdStep", "w", w, "g", g, "velocity", vel)) {
            DevicePtr W = sc.param(w), G = sc.param(g), VV = sc.param(vel);
            launch1d("sgd", w.size(), W, G, VV, w.size(), lr, momentum, wd);
            sc.back(W, w);
            sc.back(VV, vel);
        }
    }

    @Override
    public double sumSquares(Tensor w) {
        int blocks = Math.max(1, Math.min(MAX_BLOCKS, ceilDiv(w.size(), THREADS)));
        try (Scope sc = op("sumSquares", "w", w)) {
            DevicePtr W = sc.param(w), part = sc.alloc(8L * blocks, "partial sums");
            launch("sum_squares", Dim3.of(blocks), Dim3.of(THREADS), 0, W, w.size(), part);
            double[] p = new double[blocks];
            rt.toHost(part, p);
            double s = 0;
            for (double x : p) {
                s += x;
            }
            return s;
        }
    }

    // ------------------------------------------------------------------------------------ augmentation

    /**
     * Builds a normalised, augmented batch on the device, as {@code dev.pdecnn.data.DataLoader} does on the
     * host: for batch slot j, sample {@code index[j]} of {@code pixels} ([samples, C, H, W] bytes), shifted by
     * ({@code shiftY[j]}, {@code shiftX[j]}) in [-pad, pad] (the crop offset of a zero-padded image), mirrored
     * along W when {@code flip[j]} != 0, each byte v of channel c mapped to {@code lut[c * 256 + v]}; pixels
     * that fall outside the image are 0 (padding in normalised space).
     */
    public void augment(byte[] pixels, int c, int h, int w, int[] index, int[] shiftY, int[] shiftX, int[] flip,
                        Tensor lut, Tensor out) {
        int n = index.length;
        if (shiftY.length != n || shiftX.length != n || flip.length != n || out.size() != n * c * h * w
                || lut.size() != c * 256) {
            throw new IllegalArgumentException("augment: inconsistent sizes");
        }
        try (Scope sc = op("augment", "lut", lut, "out", out)) {
            DevicePtr px = sc.alloc(pixels.length, "pixels");
            rt.toDevice(pixels, px);
            DevicePtr I = sc.ints(index, "indices"), SY = sc.ints(shiftY, "shifts"), SX = sc.ints(shiftX, "shifts"),
                    FL = sc.ints(flip, "flips");
            DevicePtr L = sc.param(lut), O = sc.out(out);
            launch1d("augment", out.size(), px, I, SY, SX, FL, L, n, c, h, w, O);
            sc.back(O, out);
        }
    }
}
