package dev.pdecnn.backend.cuda;

import java.util.List;

/**
 * An executable graph captured from one recorded step ({@link KernelRunner#captureGraph}): one node per
 * {@link StepOp}, in a chain, so a replay runs them in the recorded order as one submission.
 */
interface StepGraph extends AutoCloseable {
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
