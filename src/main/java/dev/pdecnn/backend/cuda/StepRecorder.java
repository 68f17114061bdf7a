package dev.pdecnn.backend.cuda;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The runner a {@link CudaDevice} talks to: it passes every call to the device, except while a step is being
 * recorded ({@link #begin}): then launches, memsets, uploads and the step's deferred reads ({@link #toHostLater})
 * become {@link StepOp}s, and nothing reaches the device until {@link StepGraphs} runs the list (one operation at a
 * time, or as a graph). Allocations always go through: a step takes its buffers from the backend's pool, so
 * recording changes no address.
 *
 * <p>A call a recording cannot hold (a synchronous read of device data, a staged upload) ends it: what was
 * recorded runs at once, one by one, and the rest of the step passes through, exactly as without graphs.
 *
 * <p>It also counts submissions: operations the device received one by one, and whole-graph launches.
 */
final class StepRecorder implements KernelRunner {
    private final KernelRunner device;
    private List<StepOp> trace;
    private long submissions;

    StepRecorder(KernelRunner device) {
        this.device = device;
    }

    KernelRunner device() {
        return device;
    }

    /** Starts recording a step. */
    void begin() {
        trace = new ArrayList<>();
    }

    boolean recording() {
        return trace != null;
    }

    /** Ends the recording and returns the step's operations, none of which has run yet. */
    List<StepOp> end() {
        List<StepOp> ops = trace;
        trace = null;
        return ops;
    }

    /** Ends the recording and runs what it holds now: the rest of the step passes straight through. */
    void abandon() {
        if (trace != null) {
            execute(end());
        }
    }

    /** Runs {@code ops} one by one on the device. */
    void execute(List<StepOp> ops) {
        for (StepOp op : ops) {
            StepOp.run(op, device);
            submissions++;
        }
    }

    /** A graph launch: one submission. */
    void replayed() {
        submissions++;
    }

    /** Operations and graphs the device received so far. */
    long submissions() {
        return submissions;
    }

    /**
     * Copies {@code src} into {@code hostArray} now, or, while recording, when the step has run: the caller reads the
     * array only after {@link StepGraphs} has run the step.
     */
    void toHostLater(DevicePtr src, Object hostArray) {
        if (trace != null) {
            trace.add(new StepOp.Download(src, hostArray));
        } else {
            toHost(src, hostArray);
        }
    }

    // ------------------------------------------------------------------------------------ KernelRunner

    @Override
    public String description() {
        return device.description();
    }

    @Override
    public DevicePtr alloc(long bytes) {
        return device.alloc(bytes);
    }

    @Override
    public void free(DevicePtr p) {
        device.free(p);
    }

    @Override
    public void toDevice(Object hostArray, DevicePtr dst) {
        if (trace != null) {
            trace.add(new StepOp.Upload(StepOp.bytes(hostArray), dst)); // the bytes as a synchronous copy reads them
        } else {
            device.toDevice(hostArray, dst);
            submissions++;
        }
    }

    @Override
    public void toHost(DevicePtr src, Object hostArray) {
        abandon(); // the caller needs the values now
        device.toHost(src, hostArray);
        submissions++;
    }

    @Override
    public void zero(DevicePtr p, long bytes) {
        if (trace != null) {
            trace.add(new StepOp.Zero(p, bytes));
        } else {
            device.zero(p, bytes);
            submissions++;
        }
    }

    @Override
    public ByteBuffer allocStaging(long bytes) {
        return device.allocStaging(bytes);
    }

    @Override
    public void freeStaging(ByteBuffer staging) {
        device.freeStaging(staging);
    }

    @Override
    public void toDeviceAsync(ByteBuffer staging, long bytes, DevicePtr dst) {
        abandon(); // its own stream and ordering: not part of a recording
        device.toDeviceAsync(staging, bytes, dst);
        submissions++;
    }

    @Override
    public void awaitStaged() {
        device.awaitStaged();
    }

    @Override
    public void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        if (trace != null) {
            trace.add(new StepOp.Launch(kernel, grid, block, sharedBytes, args.clone()));
        } else {
            device.launch(kernel, grid, block, sharedBytes, args);
            submissions++;
        }
    }

    @Override
    public void synchronize() {
        if (trace == null) {
            device.synchronize();
        }
    }

    @Override
    public int maxSharedBytesPerBlock() {
        return device.maxSharedBytesPerBlock();
    }

    @Override
    public void close() {
        device.close();
    }
}
