package dev.pdecnn.backend.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits index ranges over the machine's cores. The split depends only on the range length and the core
 * count, never on timing, so per-chunk partial sums reduced in chunk order are bit-reproducible run to run.
 */
public final class Parallel {
    private static final int THREADS = Math.max(1, Integer.getInteger("pde.threads",
            Runtime.getRuntime().availableProcessors()));
    private static final ForkJoinPool POOL = THREADS > 1 ? new ForkJoinPool(THREADS) : null;

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

    /** Number of chunks {@link #forChunks} uses for n items: one per thread, never more than n. */
    public static int chunks(int n) {
        return Math.max(1, Math.min(n, THREADS));
    }

    public static void forChunks(int n, RangeBody body) {
        int chunks = chunks(n);
        if (chunks == 1 || POOL == null || ForkJoinTask.inForkJoinPool()) {
            for (int c = 0; c < chunks; c++) {
                body.run(c, (int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks));
            }
            return;
        }
        List<ForkJoinTask<?>> tasks = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) {
            final int cc = c;
            final int lo = (int) ((long) n * c / chunks);
            final int hi = (int) ((long) n * (c + 1) / chunks);
            tasks.add(POOL.submit(() -> body.run(cc, lo, hi)));
        }
        RuntimeException first = null;
        for (ForkJoinTask<?> t : tasks) {
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

    public static void forEach(int n, IndexBody body) {
        forChunks(n, (c, lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                body.run(i);
            }
        });
    }
}
