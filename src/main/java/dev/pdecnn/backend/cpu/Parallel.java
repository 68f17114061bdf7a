package dev.pdecnn.backend.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs index ranges and task lists over the machine's cores (setting {@code pdecnn.cpu.threads}, default all).
 *
 * <p>Determinism: which thread runs which chunk or task depends on timing, but the chunk boundaries
 * ({@link #forChunks}) depend only on the range length and the thread count, and task numbers
 * ({@link #forTasks}) only on the caller. A kernel that writes per-chunk or per-task partial results and
 * combines them in chunk or task order afterwards is therefore bit-reproducible run to run; one that sizes
 * its tasks without looking at {@link #threads()} is moreover independent of the core count.
 *
 * <p>The calling thread takes part in the work; a parallel region started from inside another one runs
 * sequentially on the thread that reaches it.
 */
public final class Parallel {
    private static final int THREADS = Math.max(1, (int) dev.pdecnn.Settings.CPU_THREADS.number(
            Runtime.getRuntime().availableProcessors()));
    private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS - 1) : null;
    private static final ThreadLocal<boolean[]> INSIDE = ThreadLocal.withInitial(() -> new boolean[1]);

    private Parallel() {
    }

    public interface RangeBody {
        void run(int chunk, int lo, int hi);
    }

    public interface IndexBody {
        void run(int i);
    }

    public static int threads() {
        return THREADS;
    }

    /**
     * A zeroed double[] for partial sums (double accumulators of the float32 kernels).
     */
    public static double[] partials(int n) {
        return new double[n];
    }

    /**
     * Chunks per thread in {@link #forChunks}: several, handed out dynamically, so that a thread the operating
     * system deschedules for a while (a busy machine) holds up only a small piece of the range.
     */
    private static final int CHUNKS_PER_THREAD = 8;

    /** Number of chunks {@link #forChunks} uses for n items: one when single-threaded, never more than n. */
    public static int chunks(int n) {
        return THREADS == 1 ? 1 : Math.max(1, Math.min(n, THREADS * CHUNKS_PER_THREAD));
    }

    private static boolean sequential(int work) {
        return work <= 1 || POOL == null || INSIDE.get()[0] || ForkJoinTask.inForkJoinPool();
    }

    /**
     * Splits [0, n) into {@link #chunks}(n) contiguous chunks of near-equal size and runs them on all threads.
     * The boundaries depend only on n and the thread count.
     */
    public static void forChunks(int n, RangeBody body) {
        int chunks = chunks(n);
        if (sequential(chunks)) {
            for (int c = 0; c < chunks; c++) {
                body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
            }
            return;
        }
        forTasks(chunks, c -> body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)));
    }

    public static void forEach(int n, IndexBody body) {
        forChunks(n, (c, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                body.run(i);
            }
        });
    }

    /**
     * Runs {@code body.run(t)} once for every task number t in [0, tasks), handing tasks to free threads in
     * increasing order (dynamic load balancing). Returns when all are done; rethrows the first failure.
     */
    public static void forTasks(int tasks, IndexBody body) {
        if (tasks <= 0) {
            return;
        }
        if (sequential(tasks)) {
            for (int t = 0; t < tasks; t++) {
                body.run(t);
            }
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            boolean[] inside = INSIDE.get();
            boolean was = inside[0];
            inside[0] = true;
            try {
                for (int t = next.getAndIncrement(); t < tasks; t = next.getAndIncrement()) {
                    body.run(t);
                }
            } finally {
                inside[0] = was;
            }
        };
        int helpers = Math.min(tasks, THREADS) - 1;
        List<ForkJoinTask<?>> submitted = new ArrayList<>(helpers);
        for (int i = 0; i < helpers; i++) {
            submitted.add(POOL.submit(worker));
        }
        RuntimeException first = null;
        try {
            worker.run();
        } catch (RuntimeException e) {
            first = e;
            next.set(tasks); // stop handing out work
        }
        for (ForkJoinTask<?> t : submitted) {
            try {
                t.join();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
