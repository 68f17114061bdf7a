package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.StepKey;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * CUDA graphs of training and evaluation steps: a step is recorded ({@link StepRecorder}) instead of run, then
 * run as a replay of a graph captured from an earlier step of the same kind and batch shape, or one operation at a
 * time (eager) when there is no such graph yet or the step differs from it.
 *
 * <p>Per key (the step's kind and batch shape): the first step runs eagerly (it allocates and uploads what the
 * run keeps: weights, velocities, statistics); a later step whose recording has the same structure as the step
 * before ({@link StepOp#sameStructure}: same kernels, launch shapes and addresses) is captured as a graph, and
 * from then on every step of that structure is a replay. What changes per step is refreshed, not baked in: the
 * bytes of every upload (the batch, the labels) go into the graph's page-locked upload slots, and a launch whose
 * scalar arguments changed (the learning rate of the cosine schedule, in the SGD launch) gets a node parameter
 * update; the host reads (loss, predictions, logits) are copy nodes into download slots, read after the replay.
 * Since every step is recorded and compared, a step that would run differently (other addresses, another launch,
 * the weights uploaded again after a checkpoint) never replays a stale graph: it runs eagerly, two such steps alike
 * in a row are captured anew, and after {@value #MAX_MISSES} eager steps in a row the key stays eager (as does a
 * step that reads device data mid-way: it cannot be one graph).
 *
 * <p>Switch: off by default on every device ({@link #BY_DEFAULT}); {@code PDECNN_CUDA_GRAPHS=1} (or
 * {@code -Dpdecnn.cuda.graphs=true}) turns graphs on, {@code =0} off; {@link CudaBackend.Options#withGraphs} overrides both.
 */
public final class StepGraphs {
    static final int MAX_MISSES = 8;

    /** What happened so far, for tests, {@code bench} and the docs. */
    public record Stats(long eagerSteps, long captures, long replays, long updatedLaunches, int lastGraphNodes,
                        long lastStepSubmissions) {
        /** "3 graphs captured, 17 steps replayed, 5 eager, 15 node updates". */
        public String describe() {
            return captures + " graphs captured, " + replays + " steps replayed, " + eagerSteps + " eager, "
                    + updatedLaunches + " node updates";
        }
    }

    private static final class Entry {
        /** The graph and the operations it runs now (its launches' arguments as last updated). */
        StepGraph graph;
        List<StepOp> graphOps;
        /** The last eager step's operations: a capture needs two alike in a row. */
        List<StepOp> last;
        /** Eager steps in a row. */
        int misses;
    }

    private final StepRecorder rec;
    private final StepGraph.Capture capture;
    private final boolean enabled;
    private final Map<StepKey, Entry> entries = new HashMap<>();
    private long eagerSteps, captures, replays, updated, lastStepSubmissions;
    private int lastNodes;
    /** Set when the driver refused a capture or a replay: every later step runs eagerly. */
    private boolean warned, off;

    StepGraphs(StepRecorder rec, StepGraph.Capture capture, boolean enabled) {
        this.rec = rec;
        this.capture = capture;
        this.enabled = enabled;
    }

    /**
     * The emulation's graphs ({@link HostStepGraph}) for a {@link HostKernelRunner}, else none: a GPU's come with
     * the device that opens it ({@link CudaSession}), a test's wrapping runner has none.
     */
    static StepGraph.Capture emulated(KernelRunner runner) {
        return runner instanceof HostKernelRunner h ? ops -> new HostStepGraph(h, ops) : null;
    }

    /**
     * The switch: {@code PDECNN_CUDA_GRAPHS} or {@code pdecnn.cuda.graphs} (the property wins) says 0, false, off or
     * no for off, anything else for on; unset means {@code byDefault}.
     */
    public static boolean switchedOn(String env, String property, boolean byDefault) {
        for (String v : new String[]{property, env}) {
            if (v != null && !v.isBlank()) {
                String s = v.strip().toLowerCase(java.util.Locale.ROOT);
                return !(s.equals("0") || s.equals("false") || s.equals("off") || s.equals("no"));
            }
        }
        return byDefault;
    }

    /**
     * Whether steps replay as graphs when the switch is unset: off, one default for every device, the emulation
     * included, so that the tests run what users get, until a lent GPU has compared replayed with eager steps
     * ({@code devices --check} and {@code tools/gpu/device-check.sh}); the tests and the device check turn graphs on
     * explicitly ({@link CudaBackend.Options#withGraphs}) to check the other setting.
     */
    static final boolean BY_DEFAULT = false;

    static boolean switchedOn(boolean byDefault) {
        return dev.pdecnn.Settings.CUDA_GRAPHS.flag(byDefault);
    }

    boolean enabled() {
        return enabled && !off;
    }

    /**
     * Runs one step inside {@code arena}'s step scope: {@code body} issues the step's operations and returns what
     * reads their results, which runs once they have run.
     */
    <R> R run(StepArena arena, StepKey key, Supplier<Supplier<R>> body) {
        try (StepArena.Step s = arena.open()) {
            long before = rec.submissions();
            Entry e = enabled && !off ? entries.computeIfAbsent(key, k -> new Entry()) : null;
            if (e == null || e.misses >= MAX_MISSES) {
                eagerSteps += e == null ? 0 : 1;
                R r = body.get().get();
                lastStepSubmissions = rec.submissions() - before;
                return r;
            }
            rec.begin();
            Supplier<R> finish;
            try {
                finish = body.get();
            } catch (RuntimeException | Error failure) {
                rec.abandon(); // what was issued before the failure runs, as it would have without graphs
                throw failure;
            }
            if (!rec.recording()) {
                e.misses = MAX_MISSES; // the step needed a host read mid-way: it cannot be one graph
                eagerSteps++;
            } else {
                dispatch(e, rec.end());
            }
            lastStepSubmissions = rec.submissions() - before;
            return finish.get();
        }
    }

    private void dispatch(Entry e, List<StepOp> ops) {
        if (e.graph != null && StepOp.sameStructure(e.graphOps, ops)) {
            List<Integer> changed = new ArrayList<>();
            for (int i = 0; i < ops.size(); i++) {
                if (ops.get(i) instanceof StepOp.Launch l && StepOp.scalarsDiffer((StepOp.Launch) e.graphOps.get(i), l)) {
                    changed.add(i);
                    e.graphOps.set(i, l);
                }
            }
            updated += changed.size();
            e.misses = 0;
            e.last = null;
            replay(e.graph, ops, changed.stream().mapToInt(Integer::intValue).toArray());
            return;
        }
        // No graph, or a step unlike it (after a checkpoint the weights are uploaded again, say): two alike in a
        // row make a new graph; otherwise the step runs eagerly and the graph stays for the steps that match it.
        if (e.last != null && StepOp.sameStructure(e.last, ops)) {
            StepGraph g = capture(ops);
            if (g != null) {
                if (e.graph != null) {
                    e.graph.close();
                }
                captures++;
                e.graph = g;
                e.graphOps = new ArrayList<>(ops);
                e.misses = 0;
                e.last = null;
                lastNodes = g.nodes();
                replay(g, ops, new int[0]);
                return;
            }
            e.misses = MAX_MISSES; // this device refuses graphs
        }
        rec.execute(ops);
        eagerSteps++;
        e.misses++;
        e.last = e.misses < MAX_MISSES ? ops : null;
    }

    private StepGraph capture(List<StepOp> ops) {
        try {
            return capture.capture(ops);
        } catch (KernelException failure) {
            // a driver that refuses the capture: the step runs as it would without graphs, and says so once
            warn(failure);
            off = true;
            return null;
        }
    }

    private void replay(StepGraph g, List<StepOp> ops, int[] changed) {
        try {
            g.replay(ops, changed);
        } catch (KernelException failure) {
            // A driver that refuses a node update or the graph launch: the graph has not run, so the step runs
            // eagerly and graphs stay off. (Had the graph run and faulted, the context's error is sticky and the
            // eager step fails with it.)
            warn(failure);
            off = true;
            clear();
            rec.execute(ops);
            eagerSteps++;
            return;
        }
        rec.replayed();
        replays++;
    }

    private void warn(KernelException failure) {
        if (!warned) {
            System.err.println("CUDA graphs off (" + failure.getMessage() + "); steps run one launch at a time");
            warned = true;
        }
    }

    Stats stats() {
        return new Stats(eagerSteps, captures, replays, updated, lastNodes, lastStepSubmissions);
    }

    /** Destroys every graph (their addresses are no longer the steps'); later steps capture anew. */
    void clear() {
        for (Entry e : entries.values()) {
            if (e.graph != null) {
                e.graph.close();
            }
        }
        entries.clear();
    }
}
