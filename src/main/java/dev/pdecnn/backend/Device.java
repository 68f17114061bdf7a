package dev.pdecnn.backend;

import dev.pdecnn.tensor.Tensor;

import java.util.function.DoubleSupplier;
import java.util.function.Supplier;

/**
 * Where a {@link Backend}'s operations run, and the policy of running them: the step arena, steps (on a GPU
 * recorded and replayed as CUDA graphs), reads of results that land when a step has run, prefetching the next
 * batch, synchronisation, giving device memory back, and the memory figures. The math is the backend's; a backend
 * names its device ({@link Backend#device()}). The host device ({@link HostDevice}) runs everything at once; the
 * GPU one ({@code cuda.CudaDevice}) is where the policies matter. Opened by name through
 * {@code backend.open.DeviceFactory}; closing it gives back what it holds (the device memory pool, a GPU context).
 */
public interface Device extends AutoCloseable {
    /** Human-readable: "CPU", or which GPU with its memory pool. */
    String description();

    /**
     * Where a step's activations and activation gradients come from (see {@link StepArena}); {@link #step} opens and
     * closes its steps, modules {@link StepArena#take} from it.
     */
    StepArena arena();

    /**
     * Runs one training or evaluation step inside a step of {@link #arena()}: {@code body} issues the step's
     * operations and returns what reads their results. A GPU device may record the operations and run them as a
     * replay of a CUDA graph captured from an earlier step with the same {@code key}, so reads of device results
     * inside {@code body} must go through {@link #softmaxCrossEntropyLater} and {@link #downloadLater}, whose values
     * are there when the returned supplier runs.
     */
    <R> R step(StepKey key, Supplier<Supplier<R>> body);

    /** Whether the step running now is being recorded, so reads of device results land only when it has run. */
    boolean recording();

    /**
     * {@link Backend#softmaxCrossEntropy} whose mean loss, and predictions, are ready when the step's operations have
     * run (see {@link #step}): the supplier returns the loss then.
     */
    DoubleSupplier softmaxCrossEntropyLater(Tensor logits, int[] labels, Tensor gLogits, int[] predictions);

    /**
     * {@link Tensor#download()} that lands when the step's operations have run (see {@link #step}); run the returned
     * action then, before reading {@code t}.
     */
    Runnable downloadLater(Tensor t);

    /**
     * Starts moving {@code batch}, a host tensor the next step reads, to where the operations run, so the copy
     * overlaps the current step (a GPU uploads it on a copy stream). Nothing to do on the host.
     */
    void prefetch(Tensor batch);

    /** Waits until every operation issued so far has finished (a GPU queues them); the host runs them at once. */
    void synchronize();

    /**
     * Gives back every device buffer this device holds, copying values only the device has to the host first; the
     * device stays usable. Device lifetimes are explicit (no garbage collector returns buffers), so code that is done
     * with a network on a device calls this. Nothing to do on the host.
     */
    void releaseDevice();

    /** One line on the device memory in use (a GPU's pool), or null for host memory. */
    String memorySummary();

    /** "on, " and what the CUDA graphs of steps did so far, or "off"; null where steps never run as graphs. */
    default String graphSummary() {
        return null;
    }

    /** Gives back the device: its buffers (values first come back to the host), pool and context. */
    @Override
    void close();
}
