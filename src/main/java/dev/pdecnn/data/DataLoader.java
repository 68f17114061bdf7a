package dev.pdecnn.data;

import java.lang.ref.Cleaner;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * Turns a {@link Dataset} into mini-batches of normalised, augmented float NCHW tensors.
 *
 * <p><b>Reproducibility.</b> The sample order of an epoch is a permutation drawn only from
 * {@code (seed, epoch)}, and the augmentation of the sample at position {@code p} of that order only from
 * {@code (seed, epoch, p)}. Nothing depends on which thread builds a batch, on how many batches were read
 * before, or on earlier epochs, so a run resumed at an epoch boundary sees exactly the batches the
 * uninterrupted run would have seen.
 *
 * <p><b>Pixels.</b> {@code v/255}, then {@code (v - mean[c]) / std[c]}. The random crop acts on the
 * <em>normalised</em> image zero-padded by {@code padCrop} pixels, so padding is 0 after normalisation
 * (the study's TensorFlow pipeline pads the normalised tensor, not the raw bytes). The optional horizontal
 * flip (probability 1/2) is applied after the crop.
 *
 * <p><b>Prefetch.</b> {@link #epoch(int)} starts a daemon thread that keeps up to {@value #PREFETCH}
 * finished batches ready, building each one on two cores; the consumer gets the producer's exceptions
 * from {@code next()}. Closing the iterator, or dropping it, stops the thread.
 */
public final class DataLoader {

    /**
     * Augmentation switches. {@code padCrop}: zero-pad by this many pixels then crop back at a random
     * offset (0 disables); {@code hflip}: flip along W with probability 1/2.
     */
    public record Augment(int padCrop, boolean hflip) {
        /** The study's recipe: pad 4, random crop, random horizontal flip. */
        public static final Augment DEFAULT = new Augment(4, true);
        public static final Augment NONE = new Augment(0, false);

        public Augment {
            if (padCrop < 0) {
                throw new IllegalArgumentException("padCrop must be >= 0, got " + padCrop);
            }
        }

        public boolean enabled() {
            return padCrop > 0 || hflip;
        }
    }

    /** A mini-batch: {@code x} is {@code n*c*h*w} floats in NCHW order, {@code y} the {@code n} labels. */
    public record Batch(float[] x, int[] y, int n, int c, int h, int w) {
    }

    /** Finished batches held ahead of the consumer. */
    static final int PREFETCH = 2;

    /** Batches smaller than this many floats are built on one thread; the fork costs more than it saves. */
    private static final int PARALLEL_MIN_FLOATS = 4096;

    private static final int PARTS = 2;

    /** Shared by all loaders: data preparation is capped at two cores so that training keeps the rest. */
    private static final class Pool {
        static final ForkJoinPool INSTANCE = new ForkJoinPool(PARTS); // worker threads are daemons
    }

    private static final Cleaner CLEANER = Cleaner.create();

    private final Dataset data;
    private final int batchSize;
    private final boolean shuffle;
    private final long seed;
    private final Augment augment;
    private final boolean dropLast;
    private final float[][] lut; // per channel: normalised value of each byte

    /** Test seam: runs on the prefetch thread before each batch, so tests can inject failures. */
    private volatile IntConsumer beforeBuild = i -> { };

    /**
     * @param data      the samples
     * @param batchSize samples per batch (the last one may be smaller unless {@code dropLast})
     * @param shuffle   permute the samples each epoch; otherwise dataset order
     * @param seed      the run seed, the only source of randomness
     * @param augment   augmentation switches ({@link Augment#NONE} for evaluation)
     * @param mean      per-channel mean of the [0,1]-scaled pixels, from the <em>training</em> split
     * @param std       per-channel standard deviation, from the training split
     * @param dropLast  skip a final partial batch (keeps batch statistics comparable)
     */
    public DataLoader(Dataset data, int batchSize, boolean shuffle, long seed, Augment augment, double[] mean,
                      double[] std, boolean dropLast) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        if (mean.length != data.c() || std.length != data.c()) {
            throw new IllegalArgumentException("normalisation has " + mean.length + " means and " + std.length
                    + " stds for " + data.c() + " channels");
        }
        this.data = data;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
        this.augment = augment;
        this.dropLast = dropLast;
        this.lut = normalisation(mean, std);
    }

    /**
     * The pixel map of training and evaluation, per channel and 8-bit value: {@code (v/255 - mean[c]) / std[c]} in
     * float32. {@code predict} uses the same table, so an image gives the model the same numbers as in a batch.
     */
    public static float[][] normalisation(double[] mean, double[] std) {
        float[][] lut = new float[mean.length][256];
        for (int ch = 0; ch < mean.length; ch++) {
            if (!(std[ch] > 0) || !Double.isFinite(std[ch]) || !Double.isFinite(mean[ch])) {
                throw new IllegalArgumentException("bad normalisation for channel " + ch + ": mean " + mean[ch]
                        + ", std " + std[ch]);
            }
            for (int v = 0; v < 256; v++) {
                lut[ch][v] = (float) ((v / 255.0 - mean[ch]) / std[ch]);
            }
        }
        return lut;
    }

    public Dataset dataset() {
        return data;
    }

    public int batchSize() {
        return batchSize;
    }

    public int batchesPerEpoch() {
        int n = data.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** Number of samples delivered per epoch (all of them unless {@code dropLast} cuts a partial batch). */
    public int samplesPerEpoch() {
        return dropLast ? batchesPerEpoch() * batchSize : data.size();
    }

    /**
     * The dataset indices in the order epoch {@code epoch} visits them. Depends only on (seed, epoch);
     * the identity when shuffling is off.
     */
    public int[] order(int epoch) {
        int n = data.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + epoch);
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        return order;
    }

    /**
     * Builds batch {@code index} of epoch {@code epoch} on the calling thread. Equal to what the
     * iterator of {@link #epoch(int)} delivers at that index; meant for tests and debugging, since each
     * call recomputes the epoch's permutation.
     */
    public Batch batch(int epoch, int index) {
        checkIndex(index);
        return build(order(epoch), epoch, index, false);
    }

    /**
     * Iterates over the batches of one epoch, prepared ahead by a background thread. Close it (or use
     * try-with-resources) when stopping early; an abandoned iterator is also stopped once collected.
     */
    public EpochIterator epoch(int epoch) {
        return epoch(epoch, 0);
    }

    /**
     * As {@link #epoch(int)}, starting at batch {@code firstBatch}: the rest of an epoch that a mid-epoch
     * checkpoint interrupted. Batches are pure functions of (seed, epoch, index), so the rest is exactly what
     * the uninterrupted epoch would have delivered from there.
     */
    public EpochIterator epoch(int epoch, int firstBatch) {
        if (firstBatch < 0 || firstBatch > batchesPerEpoch()) {
            throw new IndexOutOfBoundsException("first batch " + firstBatch + " of " + batchesPerEpoch());
        }
        return new EpochIterator(this, epoch, firstBatch);
    }

    /** For tests: runs {@code hook} with the batch index on the prefetch thread before each batch. */
    void beforeBuild(IntConsumer hook) {
        this.beforeBuild = hook;
    }

    private void checkIndex(int index) {
        if (index < 0 || index >= batchesPerEpoch()) {
            throw new IndexOutOfBoundsException("batch " + index + " of " + batchesPerEpoch());
        }
    }

    private Batch build(int[] order, int epoch, int index, boolean parallel) {
        int start = index * batchSize;
        int n = Math.min(batchSize, data.size() - start);
        int sample = data.sampleSize();
        float[] x = new float[n * sample];
        int[] y = new int[n];
        if (parallel && n >= PARTS && (long) n * sample >= PARALLEL_MIN_FLOATS) {
            // Each part writes a disjoint slice and draws its randomness per sample, so the split cannot
            // change the result.
            int half = n / 2;
            ForkJoinTask<?> other = Pool.INSTANCE.submit(() -> fill(order, epoch, start, half, n, x, y));
            fill(order, epoch, start, 0, half, x, y);
            other.join();
        } else {
            fill(order, epoch, start, 0, n, x, y);
        }
        return new Batch(x, y, n, data.c(), data.h(), data.w());
    }

    /** Fills batch slots [from, to) of the batch starting at epoch position {@code start}. */
    private void fill(int[] order, int epoch, int start, int from, int to, float[] x, int[] y) {
        int c = data.c();
        int h = data.h();
        int w = data.w();
        int plane = h * w;
        int pad = augment.padCrop();
        byte[] px = data.pixels();
        int[] labels = data.labels();
        for (int j = from; j < to; j++) {
            int pos = start + j;
            int idx = order[pos];
            y[j] = labels[idx];
            int dy = 0;
            int dx = 0;
            boolean flip = false;
            if (augment.enabled()) {
                // Always draw in the same sequence so switching one augmentation off leaves the other's
                // choices unchanged.
                SplittableRandom r = new SplittableRandom(sampleSeed(seed, epoch, pos));
                dy = r.nextInt(2 * pad + 1) - pad;
                dx = r.nextInt(2 * pad + 1) - pad;
                flip = r.nextBoolean() && augment.hflip();
            }
            int src0 = idx * c * plane;
            int dst0 = j * c * plane;
            for (int ch = 0; ch < c; ch++) {
                float[] table = lut[ch];
                int src = src0 + ch * plane;
                int dst = dst0 + ch * plane;
                for (int oy = 0; oy < h; oy++) {
                    int sy = oy + dy;
                    int drow = dst + oy * w;
                    if (sy < 0 || sy >= h) {
                        continue; // stays 0: padding in normalised space
                    }
                    int srow = src + sy * w;
                    for (int ox = 0; ox < w; ox++) {
                        // Output (oy, ox) of the flipped crop reads crop column w-1-ox, i.e. source column
                        // (w-1-ox)+dx; unflipped it reads ox+dx.
                        int sx = (flip ? w - 1 - ox : ox) + dx;
                        if (sx >= 0 && sx < w) {
                            x[drow + ox] = table[px[srow + sx] & 0xff];
                        }
                    }
                }
            }
        }
    }

    /** Seed of the augmentation of the sample at {@code position} of epoch {@code epoch}. */
    static long sampleSeed(long seed, int epoch, int position) {
        return mix64(mix64(mix64(seed) + 0x9E3779B97F4A7C15L * (epoch + 1L)) + 0xBF58476D1CE4E5B9L * (position + 1L));
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ------------------------------------------------------------------------------------------------

    /**
     * The batches of one epoch. Holds the prefetch thread; {@link #close()} stops it early. The thread
     * never references this object, only its {@link Producer}, so an iterator that is simply dropped
     * becomes unreachable and its {@link Cleaner} action stops the thread.
     */
    public static final class EpochIterator implements Iterator<Batch>, AutoCloseable {
        private final Producer producer;
        private final Cleaner.Cleanable cleanable;
        private final int total;
        private int delivered;
        private boolean closed;

        private EpochIterator(DataLoader loader, int epoch, int first) {
            this.total = loader.batchesPerEpoch();
            this.delivered = first;
            this.producer = new Producer(loader, epoch, first, total);
            this.cleanable = CLEANER.register(this, producer::stop);
            if (first < total) {
                producer.thread.start();
            }
        }

        @Override
        public boolean hasNext() {
            return !closed && delivered < total;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException(closed ? "iterator closed" : "epoch finished after " + total + " batches");
            }
            Batch b = producer.take();
            delivered++;
            return b;
        }

        /** Stops the prefetch thread; further calls to {@link #hasNext()} return false. */
        @Override
        public void close() {
            closed = true;
            cleanable.clean();
        }

        /** Number of batches this epoch delivers. */
        public int size() {
            return total;
        }

        /** For tests: the prefetch thread. */
        Thread producerThread() {
            return producer.thread;
        }
    }

    /** Producer state shared between the prefetch thread and the consumer. */
    private static final class Producer {
        private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(PREFETCH);
        private final Thread thread;
        private volatile boolean stopped;

        /** Carries a producer exception through the queue so it reaches the consumer in order. */
        private record Failure(Throwable error) {
        }

        Producer(DataLoader loader, int epoch, int first, int total) {
            thread = new Thread(() -> run(loader, epoch, first, total),
                    "data-prefetch-" + loader.data.name() + "-epoch-" + epoch);
            thread.setDaemon(true);
        }

        private void run(DataLoader loader, int epoch, int first, int total) {
            try {
                int[] order = loader.order(epoch);
                for (int i = first; i < total && !stopped; i++) {
                    loader.beforeBuild.accept(i);
                    if (!offer(loader.build(order, epoch, i, true))) {
                        return;
                    }
                }
            } catch (InterruptedException e) {
                // stop() interrupts a thread blocked on the queue; nothing is waiting for more data.
            } catch (Throwable t) {
                try {
                    offer(new Failure(t));
                } catch (InterruptedException ignored) {
                    // Stopped while reporting: the consumer is gone, so there is no one to tell.
                }
            }
        }

        /** Blocks until there is room; false if stopped meanwhile. */
        private boolean offer(Object item) throws InterruptedException {
            while (!stopped) {
                if (queue.offer(item, 100, TimeUnit.MILLISECONDS)) {
                    return true;
                }
            }
            return false;
        }

        Batch take() {
            try {
                while (true) {
                    Object o = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (o instanceof Batch b) {
                        return b;
                    }
                    if (o instanceof Failure f) {
                        stop();
                        Throwable t = f.error();
                        if (t instanceof RuntimeException re) {
                            throw re;
                        }
                        if (t instanceof Error err) {
                            throw err;
                        }
                        throw new IllegalStateException("data loading failed: " + t, t);
                    }
                    if (!thread.isAlive() && queue.isEmpty()) {
                        throw new IllegalStateException("data prefetch thread ended without delivering a batch");
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                stop();
                throw new CancellationException("interrupted while waiting for the next batch");
            }
        }

        /** Idempotent; safe to call from the Cleaner thread. */
        void stop() {
            stopped = true;
            thread.interrupt();
            queue.clear();
        }
    }
}
