package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.StepKey;
import dev.pdecnn.backend.cuda.DeviceScopes.Scope;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * A CUDA device as the {@link Device} of a {@link CudaBackend}: it owns what outlives one operation. Device
 * tensors and their lifetimes ({@link DeviceTensors}, {@link DeviceScopes}: persistent state for the run, step
 * tensors whose buffers the next step reuses once a step of the {@link #arena()} closes), the recorder every launch
 * goes through ({@link StepRecorder}) and the CUDA graphs of steps ({@link StepGraphs}), the staged upload of the
 * next batch ({@link #prefetch}), reads that land after a recorded step ({@link #downloadLater},
 * {@link #softmaxCrossEntropyLater}), and the memory ({@link DeviceMemory}). The backend only computes: it turns
 * each operation into launches on buffers this device resolves.
 *
 * <p>A device opened by {@link CudaSession} also owns its runner and pool and frees them on {@link #close()}; one
 * made on a caller's runner or memory (the tests) leaves them to the caller.
 */
public final class CudaDevice implements Device {
    private final StepRecorder rec;
    private final StepGraphs graphs;
    private final DeviceMemory mem;
    private final DType dtype;
    private final DeviceTensors dt;
    private final DeviceScopes scopes;
    private final Launcher launcher;
    /** The loss launch of {@link #softmaxCrossEntropyLater} (no GEMM runs there, so fp32 whatever the precision). */
    private final DenseLossKernels loss;
    /** Step tensors are fresh unallocated tensors; closing a step returns their device buffers ({@link #endStep}). */
    private final StepArena arena;
    private final StepGraph.Capture capture;
    /** Set by {@link CudaSession}: what {@link #close()} frees, and how the device describes itself. */
    private KernelRunner ownedRunner;
    private String description;

    /** {@code capture}: how this device turns a recorded step into a graph, null for none ({@link StepGraphs}). */
    CudaDevice(DeviceMemory memory, DType dtype, Boolean graphsOn, StepGraph.Capture capture) {
        StepRecorder runner = new StepRecorder(memory.runner());
        this.rec = runner;
        this.capture = capture;
        // graphs replay fixed addresses: the pool's step caches keep them, separate allocations do not
        this.graphs = new StepGraphs(runner, capture, memory.pooled() && capture != null
                && (graphsOn != null ? graphsOn : StepGraphs.switchedOn(StepGraphs.BY_DEFAULT)));
        this.mem = memory;
        this.dtype = dtype;
        this.dt = new DeviceTensors(memory, runner);
        this.scopes = new DeviceScopes(runner, dtype, dt);
        this.launcher = new Launcher(runner, dtype, scopes::describeCurrent);
        this.loss = new DenseLossKernels(launcher, new ElementwiseKernels(launcher), false);
        this.arena = StepArena.fresh(shape -> Tensor.unallocated(dtype, shape), this::endStep);
        this.description = runner.description();
    }

    /** Marks this device as the owner of {@code runner} and {@link #memory()}, freed by {@link #close()}. */
    void own(KernelRunner runner, String description) {
        this.ownedRunner = runner;
        this.description = description;
    }

    Launcher launcher() {
        return launcher;
    }

    DeviceScopes scopes() {
        return scopes;
    }

    StepRecorder recorder() {
        return rec;
    }

    /** Zeros that {@link DeviceTensors} keeps resident for the run (see {@link CudaBackend#state}). */
    Tensor state(int... shape) {
        return dt.declareState(Tensor.unallocated(dtype, shape));
    }

    @Override
    public String description() {
        return description;
    }

    public KernelRunner runner() {
        return rec.device();
    }

    /** Where this device's buffers come from, with its accounting. */
    public DeviceMemory memory() {
        return mem;
    }

    @Override
    public StepArena arena() {
        return arena;
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
        return rec.submissions();
    }

    /** The step recorded and run as a replay of a graph when one fits ({@link StepGraphs}). */
    @Override
    public <R> R step(StepKey key, Supplier<Supplier<R>> body) {
        return graphs.run(arena, key, body);
    }

    @Override
    public boolean recording() {
        return rec.recording();
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
        try (Scope sc = scopes.op("softmaxCrossEntropy", "logits", logits, "glogits", gLogits)) {
            DevicePtr L = sc.in(logits), Y = sc.ints(labels, "labels"), G = sc.out(gLogits);
            DevicePtr P = predictions == null ? DevicePtr.NULL : sc.alloc(4L * n, "predictions");
            DevicePtr perSample = sc.alloc(8L * n, "per-sample losses");
            DoubleSupplier mean = loss.softmaxCrossEntropy(L, Y, n, k, G, P, perSample, rec, predictions);
            sc.back(G, gLogits);
            return mean;
        }
    }

    /** The download is a copy node of the step; the host copy is current once the step has run. */
    @Override
    public Runnable downloadLater(Tensor t) {
        return dt.downloadLater(t, rec);
    }

    /** Starts the batch's upload ({@link #stage}), unless a graph uploads it into its own input buffer. */
    @Override
    public void prefetch(Tensor batch) {
        if (!graphs.enabled()) {
            stage(batch);
        }
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

    /** Waits for every queued launch and copy (timing; the GPU runner queues launches). */
    @Override
    public void synchronize() {
        rec.synchronize();
    }

    /**
     * Ends a step now: the buffers of its activations go back for the next step to reuse (in the same order, so
     * at the same addresses). Closing a {@link StepArena.Step} of this device calls it.
     */
    public void endStep() {
        scopes.endStep();
    }

    /**
     * Brings every tensor whose values only the device holds back to the host, detaches all device copies and
     * returns every buffer to {@link #memory()}: afterwards nothing of this device's tensors is on the device. The
     * device stays usable; its next operation uploads what it needs again.
     */
    @Override
    public void releaseDevice() {
        graphs.clear();
        scopes.releaseAll();
    }

    @Override
    public String graphSummary() {
        return graphs.enabled() ? "on, " + graphs.stats().describe() : "off";
    }

    /**
     * Another backend on this device's runner, with buffers from {@code memory} and its own steps, whose graphs are
     * captured as this device captures them (the device check compares graphs with eager steps on one GPU).
     */
    public CudaBackend backendOn(DeviceMemory memory, DType dtype, CudaBackend.Options options) {
        return new CudaBackend(memory, dtype, options, capture);
    }

    /** Whether this device makes CUDA graphs of steps at all (a test's wrapping runner does not). */
    public boolean capturesGraphs() {
        return capture != null;
    }

    @Override
    public String memorySummary() {
        return mem.summary();
    }

    /** Device bytes held by tensors: parameters, gradients, velocities, statistics, the current step's activations. */
    public long residentBytes() {
        return dt.residentBytes();
    }

    /** Device bytes of returned step buffers kept for reuse (on a pool). */
    public long cachedBytes() {
        return dt.cachedBytes();
    }

    /**
     * Gives every buffer back (device-only values come to the host first); a device opened by {@link CudaSession}
     * then frees its pool and its context (or ends the emulation's driver process).
     */
    @Override
    public void close() {
        if (ownedRunner == null) {
            releaseDevice();
            return;
        }
        try {
            try {
                releaseDevice(); // device-only values (parameters after the last step) back to the host
            } catch (RuntimeException e) {
                // the device failed already (that error was reported); its values are lost, close anyway
            }
            mem.close();
        } finally {
            ownedRunner.close();
        }
    }
}
