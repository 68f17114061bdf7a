package dev.pdecnn.backend;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Where the activations and activation gradients of a training or evaluation step come from. The device that owns
 * it opens a step ({@link Device#step}, or {@code try (StepArena.Step s = be.arena().open()) { ... }} for a forward
 * pass that never runs as a graph); modules {@link #take} their outputs and
 * input gradients from the arena, and everything taken goes back when the step closes.
 *
 * <p>A <b>pooled</b> arena (the CPU backends) keeps the returned tensors and hands them out again: the model
 * asks for the same shapes in the same order every step, so from the second step on a step allocates and zeroes
 * nothing and gets the very same arrays back. Within a step, a module may {@link #release} a gradient it has
 * consumed (a Sequential does so with each layer's input gradient once the layer before has used it), so the
 * next request of that shape reuses it: the backward pass then holds a few gradient tensors at a time, not one
 * per layer. A <b>fresh</b> arena (a device backend) hands out new tensors, whose device buffers the backend
 * recycles itself, and tells the backend when the step ends so it can take those buffers back.
 *
 * <p>Contents of a taken tensor are undefined (stale values of an earlier use): every operation writes every
 * element of its outputs (see {@link Backend}). Outside an open step, {@link #take} returns new zeros and nothing
 * is recycled, so code that keeps results (tests, one-off forward passes) is safe. Not thread-safe: one thread
 * runs a step.
 */
public final class StepArena {
    private final Function<int[], Tensor> fresh;
    private final boolean pooled;
    private final Runnable onClose;
    private final Map<List<Integer>, ArrayDeque<Tensor>> free = new HashMap<>();
    private final Map<Tensor, Boolean> taken = new IdentityHashMap<>();
    private Step open;
    private boolean poison;

    private StepArena(Function<int[], Tensor> fresh, boolean pooled, Runnable onClose) {
        this.fresh = fresh;
        this.pooled = pooled;
        this.onClose = onClose;
    }

    /** A pooled host arena of {@code dtype} tensors (the CPU backends). */
    public static StepArena pooled(DType dtype) {
        return new StepArena(shape -> Tensor.zeros(dtype, shape), true, () -> { });
    }

    /**
     * An arena that hands out {@code zeros.apply(shape)} for every request and runs {@code onClose} when a step
     * ends (a device backend: its tensors' device buffers are recycled there).
     */
    public static StepArena fresh(Function<int[], Tensor> zeros, Runnable onClose) {
        return new StepArena(zeros, false, onClose);
    }

    /** One step's scope: closing it returns everything taken during the step. */
    public final class Step implements AutoCloseable {
        private boolean closed;

        private Step() {
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            open = null;
            if (pooled) {
                for (Tensor t : taken.keySet()) {
                    give(t);
                }
            }
            taken.clear();
            onClose.run();
        }
    }

    /** Opens a step; steps do not nest. */
    public Step open() {
        if (open != null) {
            throw new IllegalStateException("a step is already open on this backend");
        }
        open = new Step();
        return open;
    }

    /** A tensor of {@code shape} to write, for the open step (fresh zeros outside a step). */
    public Tensor take(int... shape) {
        if (open == null) {
            return fresh.apply(shape);
        }
        Tensor t = null;
        if (pooled) {
            ArrayDeque<Tensor> q = free.get(key(shape));
            t = q == null ? null : q.poll();
        }
        if (t == null) {
            t = fresh.apply(shape);
        }
        if (poison) {
            t.fill(Double.NaN);
        }
        taken.put(t, Boolean.TRUE);
        return t;
    }

    /** As {@link #take} with {@code like}'s shape. */
    public Tensor like(Tensor like) {
        return take(like.shape());
    }

    /**
     * Gives back a tensor of the open step before the step ends: the caller and everyone it passed the tensor to
     * are done with it. Ignored for null, outside a step and for tensors this step did not hand out.
     */
    public void release(Tensor t) {
        if (t != null && open != null && taken.remove(t) != null && pooled) {
            give(t);
        }
    }

    private void give(Tensor t) {
        free.computeIfAbsent(key(t.shape()), k -> new ArrayDeque<>()).push(t);
    }

    private static List<Integer> key(int[] shape) {
        return Arrays.stream(shape).boxed().toList();
    }

    /**
     * For tests: fill every tensor handed out in a step with NaN (fresh or reused), so a result that depends on a
     * tensor's old contents turns NaN. Returns this.
     */
    public StepArena poison(boolean on) {
        poison = on;
        return this;
    }
}
