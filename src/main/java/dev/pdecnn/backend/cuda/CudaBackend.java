package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.cuda.DeviceScopes.Scope;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.function.DoubleSupplier;
import java.util.function.Supplier;


/**
 * The {@link Backend} on CUDA kernels ({@code src/main/cuda}), through a {@link KernelRunner}: a GPU via
 * JCuda, or the host emulation in tests. Each operation checks its shapes, resolves its tensors to device
 * buffers (below) and hands those to the launcher of its kernel family, one class per kernel source:
 * {@link ConvKernels}, {@link BatchNormKernels}, {@link PdeKernels}, {@link PeronaMalikKernels},
 * {@link ElementwiseKernels}, {@link DenseLossKernels}. The families own every launch decision (kernel choice,
 * grid, block, shared memory, scratch sizes), so the host equality tests exercise exactly the launches a GPU
 * gets; this class owns where the buffers come from and how long they live.
 *
 * <p><b>Device residency.</b> Tensors are ordinary {@link Tensor}s, so the model code of the CPU engine runs
 * unchanged; the first operation that touches a tensor attaches a device copy to it ({@link DeviceTensors}:
 * a buffer plus host-valid / device-valid flags). Operations read inputs from the device copy, uploading only
 * when the host copy is newer (a fresh batch, a weight the host wrote), and write outputs on the device only;
 * host code reads a tensor after an explicit {@link Tensor#download()} (plain accessors refuse newer device
 * values), and host code that may write it marks the device copy stale. Zero fills (the gradients' {@code zeroGrad}) run as device memsets, and the
 * zeros this backend creates ({@link #zeros}, {@code zerosLike()} of a device tensor) get no host array unless
 * host code reads them, so activations cost no host memory. A training step therefore copies the images and
 * the labels in and the per-sample losses and the predictions out, nothing else (tested for every model with a
 * counting runner).
 *
 * <p>Lifetimes ({@link DeviceScopes}): the parameter store's flat tensors (weights, gradients, velocities, BN
 * statistics; a view is an address inside its base) and other parameter-like tensors are <em>persistent</em>, on
 * the device for the run; everything else is a <em>step</em> tensor whose buffer the next step reuses once its
 * {@link StepArena.Step} closes ({@link #endStep()}); reading a device-only activation of an ended step is an
 * {@link IllegalStateException}. {@link #releaseDevice()} brings every device-only value back and returns all
 * buffers. A {@link Tensor#reshape} view shares its host array and is copied in and out per operation.
 *
 * <p>Device buffers come from a {@link DeviceMemory}: a pool allocated once at start on a GPU (no driver
 * allocation per step), or a budget of separate, bounds-checked allocations on the host emulation. On a pool,
 * step buffers and per-operation scratch go back to a size-keyed cache instead of the pool, so after the first
 * step no step takes a block from the pool (tested over 100 steps). A failure names its context: an
 * out-of-memory error the operation, the tensor (by its role and shape) and the bytes requested and free; a
 * kernel failure the kernel, its launch configuration and the shapes of the operation's tensors.
 *
 * <p>{@link #prefetch} ({@link #stage}) uploads the next batch on the copy stream while the current step runs;
 * with CUDA graphs on ({@link #step}, {@link StepGraphs}) a step is recorded and replayed as one graph instead,
 * which uploads the batch itself. One thread runs the operations; F32 tensors run the {@code _f32} kernels.
 */
public final class CudaBackend implements Backend {
    /**
     * Launch policy. {@code maxSharedBytes}: the dynamic shared memory a block may use (the runner's limit by
     * default); {@code pdeStepKernels}: always use the per-step PDE kernels (normally only for planes that do
     * not fit a block); {@code conv}: convolution algorithm; {@code precision}: fp32 or TF32 tensor-core matrix
     * products for float32 tensors (fp32 unless asked; {@link CudaSession} applies PyTorch's default).
     */
    public record Options(int maxSharedBytes, boolean pdeStepKernels, ConvAlgo conv, Precision precision,
                          Boolean graphs) {
        public Options(int maxSharedBytes, boolean pdeStepKernels, ConvAlgo conv) {
            this(maxSharedBytes, pdeStepKernels, conv, Precision.FP32, null);
        }

        public Options withPdeStepKernels(boolean b) {
            return new Options(maxSharedBytes, b, conv, precision, graphs);
        }

        public Options withConv(ConvAlgo c) {
            return new Options(maxSharedBytes, pdeStepKernels, c, precision, graphs);
        }

        public Options withMaxShared(int bytes) {
            return new Options(bytes, pdeStepKernels, conv, precision, graphs);
        }

        public Options withPrecision(Precision p) {
            return new Options(maxSharedBytes, pdeStepKernels, conv, p, graphs);
        }

        /**
         * Steps as CUDA graphs or eager, whatever {@code PDECNN_CUDA_GRAPHS} and the device's default say (the
         * device check compares the two on one device); null, the default, leaves it to them.
         */
        public Options withGraphs(Boolean on) {
            return new Options(maxSharedBytes, pdeStepKernels, conv, precision, on);
        }
    }

    /** The device behind a recorder: a step may be recorded and run as a CUDA graph ({@link StepGraphs}). */
    private final StepRecorder rt;
    private final StepGraphs graphs;
    private final DeviceMemory mem;
    private final DType dtype;
    private final Options opt;
    private final DeviceTensors dt;
    private final ElementwiseKernels ew;
    private final ConvKernels conv;
    private final BatchNormKernels bn;
    private final DenseLossKernels dense;
    private final PdeKernels pde;
    private final PeronaMalikKernels pm;
    /** Each operation's device buffers and the step's end (the tensors' lifetimes). */
    private final DeviceScopes scopes;
    /** Step tensors are fresh unallocated tensors; closing a step returns their device buffers ({@link #endStep}). */
    private final StepArena arena = StepArena.fresh(this::zeros, this::endStep);

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
        StepRecorder runner = new StepRecorder(memory.runner());
        this.rt = runner;
        // graphs replay fixed addresses: the pool's step caches keep them, separate allocations do not
        this.graphs = new StepGraphs(runner, memory.pooled() && runner.capturesGraphs()
                && (options.graphs() != null ? options.graphs() : StepGraphs.switchedOn(runner.graphsByDefault())));
        this.mem = memory;
        this.dtype = dtype;
        this.opt = options;
        this.dt = new DeviceTensors(memory, runner);
        this.scopes = new DeviceScopes(runner, dtype, dt);
        Launcher l = new Launcher(runner, dtype, scopes::describeCurrent);
        this.ew = new ElementwiseKernels(l);
        boolean f32 = dtype == DType.F32; // TF32 is a float32 format: float64 tensors keep their kernels
        this.conv = new ConvKernels(l, options.conv(), ew, f32 && options.precision().tf32Conv());
        this.bn = new BatchNormKernels(l);
        this.dense = new DenseLossKernels(l, ew, f32 && options.precision().tf32Dense());
        this.pde = new PdeKernels(l, options.maxSharedBytes(), options.pdeStepKernels());
        this.pm = new PeronaMalikKernels(l);
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
        return rt.device();
    }

    /** Whether steps run as CUDA graphs ({@link StepGraphs}): a pool, a device with graphs, the switch on. */
    public boolean graphs() {
        return graphs.enabled();
    }

    /** Eager steps, captures, replays, node updates so far. */
    public StepGraphs.Stats graphStats() {
        return graphs.stats();
    }

    /** Device operations submitted so far: kernels, copies and memsets one by one, and whole graphs. */
    public long submissions() {
        return rt.submissions();
    }

    /** The step recorded and run as a replay of a graph when one fits ({@link StepGraphs}). */
    @Override
    public <R> R step(Object key, Supplier<Supplier<R>> body) {
        return graphs.run(arena, key, body);
    }

    /** Waits for every queued launch and copy (timing; the GPU runner queues launches). */
    @Override
    public void synchronize() {
        rt.synchronize();
    }

    /** Where this backend's device buffers come from, with its accounting. */
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
        if (!graphs.enabled()) { // a graph uploads the batch into its own input buffer (an upload node)
            stage(batch);
        }
    }

    /**
     * Ends a step now: the buffers of its activations go back for the next step to reuse (in the same order, so
     * at the same addresses). Closing a {@link StepArena.Step} of this backend calls it.
     */
    public void endStep() {
        scopes.endStep();
    }

    /**
     * Brings every tensor whose values only the device holds back to the host, detaches all device copies and
     * returns every buffer to {@link #memory()}: afterwards nothing of this backend is on the device. The backend
     * stays usable; its next operation uploads what it needs again.
     */
    @Override
    public void releaseDevice() {
        graphs.clear();
        scopes.releaseAll();
    }

    /**
     * Starts uploading {@code batch}, the next step's input, through a page-locked buffer on the copy stream (the
     * emulation copies at once); the first operation that reads it waits, and it is a step tensor of that step.
     * Returns false, doing nothing, when it cannot be staged (it has a device copy, is a reshape view, has no host
     * array) or memory is short: the operation that reads it then uploads it as usual.
     */
    public boolean stage(Tensor batch) {
        scopes.checkType(batch);
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

    /** Starts an operation; {@code named} pairs each tensor with its name: "x", x, "w", w, ... */
    private Scope op(String name, Object... named) {
        return scopes.op(name, named);
    }

    // ---------------------------------------------------------------------------------- convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor y, ConvSpec s) {
        ConvKernels.Geom g = ConvKernels.Geom.of(x, w, y, s);
        try (Scope sc = op("conv2dForward", "x", x, "w", w, "y", y, "stride", s.stride(), "pad", s.pad(),
                "groups", s.groups())) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), Y = sc.out(y);
            conv.forward(X, Wt, Y, g);
            sc.back(Y, y);
        }
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        ConvKernels.Geom g = ConvKernels.Geom.of(x, w, gy, s);
        try (Scope sc = op("conv2dBackward", "x", x, "w", w, "gy", gy, "gx", gx, "gw", gw, "stride", s.stride(),
                "pad", s.pad(), "groups", s.groups())) {
            DevicePtr X = sc.in(x), Wt = sc.param(w), GY = sc.in(gy);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                conv.backwardData(GY, Wt, GX, g);
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.param(gw); // accumulated
                conv.backwardFilter(X, GY, GW, g, sc);
                sc.back(GW, gw);
            }
        }
    }

    // ----------------------------------------------------------------------------------- batch norm

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
        try (Scope sc = op(name, "x", x, "gamma", gamma, "beta", beta, "running_mean", runMean,
                "running_var", runVar, "y", y, "save_mean", saveMean, "save_invstd", saveInvStd)) {
            DevicePtr X = sc.in(x), G = sc.param(gamma), B = sc.param(beta), RM = sc.param(runMean), RV = sc.param(runVar);
            DevicePtr Y = sc.out(y), SM = sc.paramOut(saveMean), SI = sc.paramOut(saveInvStd);
            bn.train(X, G, B, RM, RV, momentum, eps, Y, SM, SI, relu, n, c, hw, sc);
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
            DevicePtr Y = sc.out(y);
            bn.eval(X, G, B, RM, RV, eps, Y, relu, n, c, hw, sc);
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
        try (Scope sc = y == null
                ? op(name, "x", x, "gy", gy, "gamma", gamma, "save_mean", saveMean, "save_invstd", saveInvStd, "gx", gx,
                "ggamma", gGamma, "gbeta", gBeta)
                : op(name, "x", x, "y", y, "gy", gy, "gamma", gamma, "save_mean", saveMean, "save_invstd", saveInvStd,
                "gx", gx, "ggamma", gGamma, "gbeta", gBeta)) {
            DevicePtr X = sc.in(x), GY = sc.in(gy), G = sc.param(gamma), SM = sc.param(saveMean), SI = sc.param(saveInvStd);
            DevicePtr Y = y == null ? DevicePtr.NULL : sc.in(y);
            DevicePtr GG = sc.param(gGamma), GB = sc.param(gBeta);
            DevicePtr coef = bn.backwardCoefficients(X, GY, Y, G, SM, SI, GG, GB, n, c, hw, sc);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                bn.backwardApply(X, GY, Y, coef, GX, n, c, hw);
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
            ew.relu(X, Y, x.size());
            sc.back(Y, y);
        }
    }

    @Override
    public void reluBackward(Tensor y, Tensor gy, Tensor gx) {
        try (Scope sc = op("reluBackward", "y", y, "gy", gy, "gx", gx)) {
            DevicePtr Y = sc.in(y), GY = sc.in(gy), GX = sc.out(gx);
            ew.reluBackward(Y, GY, GX, y.size());
            sc.back(GX, gx);
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor y) {
        binary("add", false, a, b, y);
    }

    /** relu(a + b) in one pass (add_relu); a is left as it is. */
    @Override
    public void addRelu(Tensor a, Tensor b, Tensor y) {
        binary("addRelu", true, a, b, y);
    }

    /** y = a + b or relu(a + b) element-wise over equal sizes (y may alias a or b). */
    private void binary(String name, boolean relu, Tensor a, Tensor b, Tensor y) {
        if (a.size() != b.size() || a.size() != y.size()) {
            throw new IllegalArgumentException(name + " shapes " + a + " " + b + " " + y);
        }
        try (Scope sc = op(name, "a", a, "b", b, "y", y)) {
            DevicePtr A = sc.in(a), B = sc.in(b), Y = sc.out(y);
            if (relu) {
                ew.addRelu(A, B, Y, a.size());
            } else {
                ew.add(A, B, Y, a.size());
            }
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
            ew.avgPool(X, Y, planes, h, w, k);
            sc.back(Y, y);
        }
    }

    @Override
    public void avgPoolBackward(Tensor gy, int k, Tensor gx) {
        int planes = gx.dim(0) * gx.dim(1), h = gx.dim(2), w = gx.dim(3);
        try (Scope sc = op("avgPoolBackward", "gy", gy, "gx", gx, "k", k)) {
            DevicePtr GY = sc.in(gy), GX = sc.out(gx);
            ew.avgPoolBackward(GY, GX, planes, h, w, k);
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
            dense.forward(X, Wt, B, Y, n, in, out);
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
                dense.backwardData(GY, Wt, GX, n, in, out);
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.param(gw);
                dense.backwardFilter(GY, X, GW, n, in, out);
                sc.back(GW, gw);
            }
            if (gb != null) {
                DevicePtr GB = sc.param(gb);
                dense.backwardBias(GY, GB, n, out);
                sc.back(GB, gb);
            }
        }
    }

    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        rt.abandon(); // the loss is read now: a recorded step runs up to here
        return softmaxCrossEntropyLater(logits, labels, gLogits, predictions).getAsDouble();
    }

    /** The per-sample losses and predictions are copied to the host when the step has run (a graph's copy nodes). */
    @Override
    public DoubleSupplier softmaxCrossEntropyLater(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
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
            DoubleSupplier mean = dense.softmaxCrossEntropy(L, Y, n, k, G, P, loss, rt, predictions);
            sc.back(G, gLogits);
            return mean;
        }
    }

    @Override
    public boolean recording() {
        return rt.recording();
    }

    /** The download is a copy node of the step; the host copy is current once the step has run. */
    @Override
    public Runnable downloadLater(Tensor t) {
        return dt.downloadLater(t, rt);
    }

    // ------------------------------------------------------------------------------ Global layer (PDE)

    /** The launch plan of {@link #pdeForward} ({@code backward} false) or {@link #pdeBackward}. */
    public PdeKernels.Plan pdePlan(int planes, int h, int w, int k, boolean backward) {
        return pde.plan(planes, h, w, k, backward);
    }

    @Override
    public void pdeForward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                           Tensor out) {
        PdeKernels.checkShapes(f, h, u, v, dX, dY, out);
        if ((u == null) != (v == null) || (dX == null) != (dY == null)) {
            throw new IllegalArgumentException("u and v, and dX and dY, are both given or both null");
        }
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3);
        try (Scope sc = op("pdeForward", "f", f, "h", h, "u", u, "v", v, "Dx", dX, "Dy", dY, "out", out, "K",
                s.steps())) {
            DevicePtr F = sc.in(f), H = sc.in(h), U = sc.in(u), V = sc.in(v), DX = sc.in(dX), DY = sc.in(dY);
            DevicePtr O = sc.out(out);
            pde.forward(F, H, U, V, DX, DY, dConst, planes, hh, w, s, O, sc);
            sc.back(O, out);
        }
    }

    @Override
    public void pdeBackward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                            Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        PdeKernels.checkShapes(f, h, u, v, dX, dY, gOut, gf, gh, gu, gv, gDx, gDy);
        if ((u == null) != (v == null) || (dX == null) != (dY == null) || (gu == null) != (gv == null)
                || (gDx == null) != (gDy == null)) {
            throw new IllegalArgumentException("u/v, dX/dY, gu/gv and gDx/gDy come in pairs: both given or both null");
        }
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3);
        try (Scope sc = op("pdeBackward", "f", f, "h", h, "u", u, "v", v, "Dx", dX, "Dy", dY, "gout", gOut, "gf", gf,
                "gh", gh, "gu", gu, "gv", gv, "gDx", gDx, "gDy", gDy, "K", s.steps())) {
            DevicePtr F = sc.in(f), H = sc.in(h), U = sc.in(u), V = sc.in(v), DX = sc.in(dX), DY = sc.in(dY);
            DevicePtr GO = sc.in(gOut);
            DevicePtr GF = sc.out(gf), GH = sc.out(gh), GU = sc.out(gu), GV = sc.out(gv), GDX = sc.out(gDx), GDY = sc.out(gDy);
            pde.backward(F, H, U, V, DX, DY, dConst, planes, hh, w, s, GO, GF, GH, GU, GV, GDX, GDY, sc);
            sc.back(GF, gf);
            sc.back(GH, gh);
            sc.back(GU, gu);
            sc.back(GV, gv);
            sc.back(GDX, gDx);
            sc.back(GDY, gDy);
        }
    }

    // ------------------------------------------------------------------------------------ Perona–Malik

    @Override
    public void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        PeronaMalikKernels.checkReflect(h);
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3);
        try (Scope sc = op("peronaMalik", "h", h, "Dx", dX, "Dy", dY)) {
            DevicePtr H = sc.in(h), DX = sc.out(dX), DY = sc.out(dY);
            pm.forward(H, planes, hh, w, lambda, DX, DY);
            sc.back(DX, dX);
            sc.back(DY, dY);
        }
    }

    @Override
    public void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        PeronaMalikKernels.checkReflect(h);
        int planes = h.dim(0) * h.dim(1), hh = h.dim(2), w = h.dim(3);
        try (Scope sc = op("peronaMalikBackward", "h", h, "gDx", gDx, "gDy", gDy, "gh", gh)) {
            DevicePtr H = sc.in(h), GDX = sc.in(gDx), GDY = sc.in(gDy), GH = sc.in(gh);
            pm.backward(H, planes, hh, w, lambda, GDX, GDY, GH);
            sc.back(GH, gh);
        }
    }

    // -------------------------------------------------------------------------------------- optimizer

    @Override
    public void sgdStep(Tensor w, Tensor g, Tensor vel, double lr, double momentum, double wd) {
        try (Scope sc = op("sgdStep", "w", w, "g", g, "velocity", vel)) {
            DevicePtr W = sc.param(w), G = sc.param(g), VV = sc.param(vel);
            ew.sgd(W, G, VV, w.size(), lr, momentum, wd);
            sc.back(W, w);
            sc.back(VV, vel);
        }
    }

    @Override
    public double sumSquares(Tensor w) {
        try (Scope sc = op("sumSquares", "w", w)) {
            return ew.sumSquares(sc.param(w), w.size(), sc);
        }
    }
}
