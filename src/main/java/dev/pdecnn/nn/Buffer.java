package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.Tensor;

/**
 * One call site's output or gradient tensor, reused from step to step where the backend allows it
 * ({@link Backend#buffer}): on the CPU backends a module then allocates and zeroes nothing after its first step.
 * The slot keeps its tensor only when the backend {@link Backend#reusesBuffers() reuses buffers}, so on a device
 * backend a module holds no reference beyond the step, as before. A tensor the slot returns is overwritten by the
 * slot's next call: a module uses each slot once per step, and a step's backward pass has consumed the previous
 * step's tensors before the next forward pass.
 */
final class Buffer {
    private Tensor kept;

    /** A tensor of {@code shape} to write (its contents are undefined on reuse). */
    Tensor get(Backend be, int... shape) {
        return keep(be, be.buffer(kept, shape));
    }

    /** A tensor of {@code like}'s shape to write (its contents are undefined on reuse). */
    Tensor like(Backend be, Tensor like) {
        return keep(be, be.bufferLike(kept, like));
    }

    private Tensor keep(Backend be, Tensor t) {
        kept = be.reusesBuffers() ? t : null;
        return t;
    }
}
