package dev.pdecnn.backend.cuda;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The emulated device's CUDA graph: a copy of the recorded operations, taken at capture, with its own upload and
 * download slots (the page-locked buffers of a GPU graph). A replay updates the launches it is told to, refills the
 * upload slots, runs its own copy of the list, and copies the download slots out: so a replay that should have
 * updated a node and did not runs the captured arguments, as a GPU would, and the replay tests see it.
 */
final class HostStepGraph implements StepGraph {
    private final KernelRunner device;
    private final List<StepOp> nodes = new ArrayList<>();

    HostStepGraph(KernelRunner device, List<StepOp> ops) {
        this.device = device;
        for (StepOp op : ops) {
            nodes.add(own(op));
        }
    }

    /** A node's own copy of an operation: arguments, upload bytes, and a download slot. */
    private static StepOp own(StepOp op) {
        if (op instanceof StepOp.Launch l) {
            return new StepOp.Launch(l.kernel(), l.grid(), l.block(), l.sharedBytes(), l.args().clone());
        } else if (op instanceof StepOp.Upload u) {
            return new StepOp.Upload(u.data().clone(), u.dst());
        } else if (op instanceof StepOp.Download d) {
            return new StepOp.Download(d.src(), new byte[Math.toIntExact(KernelRunner.byteSize(d.hostArray()))]);
        }
        return op;
    }

    @Override
    public void replay(List<StepOp> ops, int[] changed) {
        for (int i : changed) {
            if (!(nodes.get(i) instanceof StepOp.Launch) || !(ops.get(i) instanceof StepOp.Launch)) {
                throw new IllegalArgumentException("node " + i + " is not a kernel launch");
            }
            nodes.set(i, own(ops.get(i)));
        }
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i) instanceof StepOp.Upload slot) {
                byte[] data = ((StepOp.Upload) ops.get(i)).data();
                System.arraycopy(data, 0, slot.data(), 0, data.length);
            }
        }
        for (StepOp op : nodes) {
            StepOp.run(op, device);
        }
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i) instanceof StepOp.Download slot) {
                StepOp.fill(((StepOp.Download) ops.get(i)).hostArray(), ByteBuffer.wrap((byte[]) slot.hostArray()));
            }
        }
    }

    @Override
    public int nodes() {
        return nodes.size();
    }

    @Override
    public void close() {
        nodes.clear();
    }
}
