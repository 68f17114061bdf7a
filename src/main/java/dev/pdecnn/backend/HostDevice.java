package dev.pdecnn.backend;

import dev.pdecnn.tensor.Tensor;

import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * The host as a {@link Device}: operations run when they are issued, so a step runs its body directly, reads land at
 * once and there is nothing to prefetch, wait for or give back. Owns the backend's pooled {@link StepArena}.
 */
public final class HostDevice implements Device {
    private final Backend ops;
    private final StepArena arena;

    /** The device of {@code ops}, a host backend, whose steps take from {@code arena}. */
    public HostDevice(Backend ops, StepArena arena) {
        this.ops = ops;
        this.arena = arena;
    }

    @Override
    public String description() {
        return "CPU";
    }

    @Override
    public StepArena arena() {
        return arena;
    }

    @Override
    public <R> R step(StepKey key, Supplier<Supplier<R>> body) {
        try (StepArena.Step s = arena.open()) {
            return body.get().get();
        }
    }

    @Override
    public boolean recording() {
        return false;
    }

    @Override
    public DoubleSupplier softmaxCrossEntropyLater(Tensor logits, int[] labels, Tensor gLogits, int[] predictions) {
        double loss = ops.softmaxCrossEntropy(logits, labels, gLogits, predictions);
        return () -> loss;
    }

    @Override
    public Runnable downloadLater(Tensor t) {
        t.download();
        return () -> { };
    }

    @Override
    public void prefetch(Tensor batch) {
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void releaseDevice() {
    }

    @Override
    public String memorySummary() {
        return null;
    }

    @Override
    public void close() {
    }
}
