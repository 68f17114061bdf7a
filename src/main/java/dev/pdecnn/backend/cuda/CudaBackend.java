package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.cuda.DeviceScopes.Scope;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;


/**
 * The {@link Backend} on CUDA kernels ({@code src/main/cuda}), through a {@link KernelRunner}: a GPU via
 * JCuda, or the host emulation in tests. Each operation checks its shapes, resolves its tensors to device
 * buffers through its {@link CudaDevice} and hands those to the launcher of its kernel family, one class per kernel
 * source: {@link ConvKernels}, {@link BatchNormKernels}, {@link PdeKernels}, {@link PeronaMalikKernels},
 * {@link ElementwiseKernels}, {@link DenseLossKernels}. The families own every launch decision (kernel choice,
 * grid, block, shared memory, scratch sizes), so the host equality tests exercise exactly the launches a GPU
 * gets; the device owns where the buffers come from and how long they live, steps and graphs.
 *
 * <p><b>Device residency.</b> Tensors are ordinary {@link Tensor}s, so the model code of the CPU engine runs
 * unchanged; the first operation that touches a tensor attaches a device copy to it ({@link DeviceTensors}:
 * a buffer plus host-valid / device-valid flags). Operations read inputs from the device copy, uploading only
 * when the host copy is newer (a fresh batch, a weight the host wrote), and write outputs on the device only;
 * host code reads a tensor after an explicit {@link Tensor#download()} (plain accessors refuse newer device
 * values), and host code that may write it marks the device copy stale. Zero fills (the gradients'
 * {@code zeroGrad}) run as device memsets, and the zeros this backend creates ({@link #zeros}, {@link #state},
 * {@code zerosLike()} of a device tensor) get no host array unless host code reads them, so activations cost no
 * host memory. A training step therefore copies the images and the labels in and the per-sample losses and the
 * predictions out, nothing else (tested for every model with a counting runner).
 *
 * <p>Lifetimes are declared where a tensor is made: {@link #state} tensors (the parameter store's flat weights,
 * gradients, velocities and BN statistics, of which parameters are views; BN's saved statistics) are
 * <em>persistent</em>, on the device for the run; everything else is a <em>step</em> tensor whose buffer the next
 * step reuses once the device's step ends; reading a device-only activation of an ended step is an
 * {@link IllegalStateException}. A {@link Tensor#reshape} view shares its host array and is copied in and out per
 * operation. A failure names its context: an out-of-memory error the operation, the tensor (by its name in the
 * operation and shape) and the bytes requested and free; a kernel failure the kernel, its launch configuration
 * and the shapes of the operation's tensors. One thread runs the operations; F32 tensors run the {@code _f32}
 * kernels.
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

    /** Where the operations run: buffers, lifetimes, steps and graphs (see {@link CudaDevice}). */
    private final CudaDevice device;
    private final DType dtype;
    private final Options opt;
    private final ElementwiseKernels ew;
    private final ConvKernels conv;
    private final BatchNormKernels bn;
    private final DenseLossKernels dense;
    private final PdeKernels pde;
    private final PeronaMalikKernels pm;
    /** Each operation's device buffers (the device's). */
    private final DeviceScopes scopes;

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

    /** Graphs, where {@code options} and the switch allow them, on the emulation only ({@link StepGraphs#emulated}). */
    public CudaBackend(DeviceMemory memory, DType dtype, Options options) {
        this(memory, dtype, options, StepGraphs.emulated(memory.runner()));
    }

    /** {@code capture}: how the device makes graphs of steps, null for none. */
    CudaBackend(DeviceMemory memory, DType dtype, Options options, StepGraph.Capture capture) {
        if (options.maxSharedBytes() > memory.runner().maxSharedBytesPerBlock()) {
            throw new IllegalArgumentException("shared-memory budget " + options.maxSharedBytes() + " exceeds the runner's "
                    + memory.runner().maxSharedBytesPerBlock());
        }
        this.device = new CudaDevice(memory, dtype, options.graphs(), capture);
        this.dtype = dtype;
        this.opt = options;
        this.scopes = device.scopes();
        Launcher l = device.launcher();
        this.ew = new ElementwiseKernels(l);
        boolean f32 = dtype == DType.F32; // TF32 is a float32 format: float64 tensors keep their kernels
        this.conv = new ConvKernels(l, options.conv(), ew, f32 && options.precision().tf32Conv());
        this.bn = new BatchNormKernels(l);
        this.dense = new DenseLossKernels(l, ew, f32 && options.precision().tf32Dense());
        this.pde = new PdeKernels(l, options.maxSharedBytes(), options.pdeStepKernels());
        this.pm = new PeronaMalikKernels(l);
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

    /** Zeros declared state: resident on the device for the run, whichever operation reads or writes them. */
    @Override
    public Tensor state(int... shape) {
        return device.state(shape);
    }

    @Override
    public CudaDevice device() {
        return device;
    }

    public static Options defaultOptions(KernelRunner runner) {
        return new Options(runner.maxSharedBytesPerBlock(), false, ConvAlgo.AUTO);
    }

    public KernelRunner runner() {
        return device.runner();
    }

    public Options options() {
        return opt;
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
            DevicePtr X = sc.in(x), Wt = sc.in(w), Y = sc.out(y);
            conv.forward(X, Wt, Y, g);
            sc.back(Y, y);
        }
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, ConvSpec s) {
        ConvKernels.Geom g = ConvKernels.Geom.of(x, w, gy, s);
        try (Scope sc = op("conv2dBackward", "x", x, "w", w, "gy", gy, "gx", gx, "gw", gw, "stride", s.stride(),
                "pad", s.pad(), "groups", s.groups())) {
            DevicePtr X = sc.in(x), Wt = sc.in(w), GY = sc.in(gy);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                conv.backwardData(GY, Wt, GX, g);
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.in(gw); // accumulated
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
            DevicePtr X = sc.in(x), G = sc.in(gamma), B = sc.in(beta), RM = sc.in(runMean), RV = sc.in(runVar);
            DevicePtr Y = sc.out(y), SM = sc.out(saveMean), SI = sc.out(saveInvStd);
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
            DevicePtr X = sc.in(x), G = sc.in(gamma), B = sc.in(beta), RM = sc.in(runMean), RV = sc.in(runVar);
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
            DevicePtr X = sc.in(x), GY = sc.in(gy), G = sc.in(gamma), SM = sc.in(saveMean), SI = sc.in(saveInvStd);
            DevicePtr Y = y == null ? DevicePtr.NULL : sc.in(y);
            DevicePtr GG = sc.in(gGamma), GB = sc.in(gBeta);
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
            DevicePtr X = sc.in(x), Wt = sc.in(w), B = sc.in(b), Y = sc.out(y);
            dense.forward(X, Wt, B, Y, n, in, out);
            sc.back(Y, y);
        }
    }

    @Override
    public void denseBackward(Tensor x, Tensor w, Tensor gy, Tensor gx, Tensor gw, Tensor gb) {
        int n = x.dim(0), in = x.size() / n, out = w.dim(0);
        try (Scope sc = op("denseBackward", "x", x, "w", w, "gy", gy, "gx", gx, "gw", gw, "gb", gb)) {
            DevicePtr X = sc.in(x), Wt = sc.in(w), GY = sc.in(gy);
            if (gx != null) {
                DevicePtr GX = sc.out(gx);
                dense.backwardData(GY, Wt, GX, n, in, out);
                sc.back(GX, gx);
            }
            if (gw != null) {
                DevicePtr GW = sc.in(gw);
                dense.backwardFilter(GY, X, GW, n, in, out);
                sc.back(GW, gw);
            }
            if (gb != null) {
                DevicePtr GB = sc.in(gb);
                dense.backwardBias(GY, GB, n, out);
                sc.back(GB, gb);
            }
        }
    }

    /** The loss read now: a step being recorded runs up to here, then the loss launch and its copies run at once. */
    @Override
    public double softmaxCrossEntropy(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        device.recorder().abandon();
        return device.softmaxCrossEntropyLater(logits, labels, gLogits, predictions).getAsDouble();
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
            DevicePtr W = sc.in(w), G = sc.in(g), VV = sc.in(vel);
            ew.sgd(W, G, VV, w.size(), lr, momentum, wd);
            sc.back(W, w);
            sc.back(VV, vel);
        }
    }

    @Override
    public double sumSquares(Tensor w) {
        try (Scope sc = op("sumSquares", "w", w)) {
            return ew.sumSquares(sc.in(w), w.size(), sc);
        }
    }
}
