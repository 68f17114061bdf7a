package dev.pdecnn.backend.cuda;

import java.util.List;

/**
 * An executable graph captured from one recorded step: one node per {@link StepOp}, in a chain, so a replay runs
 * them in the recorded order as one submission. The device's {@link Capture} makes it ({@link JCudaStepGraph} on a
 * GPU, {@link HostStepGraph} on the emulation); the runners themselves know nothing of graphs.
 */
interface StepGraph extends AutoCloseable {
    /** How a device turns a recorded step into a graph, ready to replay. */
    @FunctionalInterface
    interface Capture {
        StepGraph capture(List<StepOp> ops);
    }

    /**
     * Runs the graph once for a step whose operations {@code ops} have the structure it was captured from
     * ({@link StepOp#sameStructure}): first the launches at {@code changed} (indices into {@code ops}) take their
     * new scalar arguments (a node parameter update), the upload slots take the step's bytes; then one launch of
     * the whole graph; then, once it has finished, the downloads' host arrays of {@code ops} are filled.
     */
    void replay(List<StepOp> ops, int[] changed);

    /** Nodes in the graph (one per recorded operation). */
    int nodes();

    @Override
    void close();
}
