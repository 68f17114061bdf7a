package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataLoaderTest {
    private static final double[] ZERO = {0};
    private static final double[] ONE = {1};

    /** A dataset whose label is the sample index, so batches reveal the order. */
    private static Dataset indexed(int n, int c, int h, int w, long seed) {
        List<String> classes = IntStream.range(0, n).mapToObj(Integer::toString).toList();
        return new Dataset("idx", TestFiles.pixels(n * c * h * w, seed), IntStream.range(0, n).toArray(), c, h, w,
                classes);
    }

    /** {@code n} copies of one image. */
    private static Dataset copies(byte[] image, int n, int h, int w) {
        byte[] px = new byte[n * image.length];
        for (int i = 0; i < n; i++) {
            System.arraycopy(image, 0, px, i * image.length, image.length);
        }
        return new Dataset("copies", px, new int[n], 1, h, w, List.of("only"));
    }

    private static List<DataLoader.Batch> all(DataLoader loader, int epoch) {
        List<DataLoader.Batch> out = new ArrayList<>();
        try (DataLoader.EpochIterator it = loader.epoch(epoch)) {
            it.forEachRemaining(out::add);
        }
        return out;
    }

    private static int[] labels(List<DataLoader.Batch> batches) {
        return batches.stream().flatMapToInt(b -> Arrays.stream(b.y())).toArray();
    }

    private static void assertSameBatches(List<DataLoader.Batch> a, List<DataLoader.Batch> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertArrayEquals(a.get(i).y(), b.get(i).y(), "labels of batch " + i);
            assertArrayEquals(a.get(i).x(), b.get(i).x(), "pixels of batch " + i);
        }
    }

    @Test
    void partialLastBatchAndDropLast() {
        Dataset d = indexed(10, 1, 2, 3, 1);
        DataLoader keep = new DataLoader(d, 4, false, 1, DataLoader.Augment.NONE, ZERO, ONE, false);
        assertEquals(3, keep.batchesPerEpoch());
        assertEquals(10, keep.samplesPerEpoch());
        List<DataLoader.Batch> b = all(keep, 0);
        assertEquals(List.of(4, 4, 2), b.stream().map(DataLoader.Batch::n).toList());
        DataLoader.Batch last = b.get(2);
        assertEquals(2 * 6, last.x().length);
        assertArrayEquals(new int[]{8, 9}, last.y());
        assertEquals(1, last.c());
        assertEquals(2, last.h());
        assertEquals(3, last.w());

        DataLoader drop = new DataLoader(d, 4, true, 1, DataLoader.Augment.NONE, ZERO, ONE, true);
        assertEquals(2, drop.batchesPerEpoch());
        assertEquals(8, drop.samplesPerEpoch());
        List<DataLoader.Batch> bd = all(drop, 0);
        assertEquals(2, bd.size());
        assertTrue(bd.stream().allMatch(x -> x.n() == 4));

        DataLoader none = new DataLoader(d, 11, true, 1, DataLoader.Augment.NONE, ZERO, ONE, true);
        assertEquals(0, none.batchesPerEpoch());
        assertFalse(none.epoch(0).hasNext());
    }

    @Test
    void everySampleExactlyOncePerEpoch() {
        Dataset d = indexed(103, 1, 4, 4, 2);
        DataLoader loader = new DataLoader(d, 10, true, 42, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] y = labels(all(loader, epoch));
            assertEquals(103, y.length);
            int[] sorted = y.clone();
            Arrays.sort(sorted);
            assertArrayEquals(IntStream.range(0, 103).toArray(), sorted);
            assertFalse(Arrays.equals(sorted, y), "shuffled");
        }
    }

    @Test
    void deterministicPerSeedAndEpoch() {
        Dataset d = indexed(200, 1, 28, 28, 3);
        DataLoader a = new DataLoader(d, 32, true, 7, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        DataLoader b = new DataLoader(d, 32, true, 7, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        assertSameBatches(all(a, 5), all(b, 5));
        assertFalse(Arrays.equals(labels(all(a, 5)), labels(all(a, 6))), "different epoch, different order");
        DataLoader other = new DataLoader(d, 32, true, 8, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        assertFalse(Arrays.equals(labels(all(a, 5)), labels(all(other, 5))), "different seed, different order");
        assertArrayEquals(a.order(5), labels(all(a, 5)));
    }

    @Test
    void prefetchedParallelBatchesEqualSequentialOnes() {
        // 32 x 28 x 28 floats is above the threshold, so the iterator splits batches across threads.
        Dataset d = indexed(100, 1, 28, 28, 4);
        DataLoader loader = new DataLoader(d, 32, true, 11, DataLoader.Augment.DEFAULT, new double[]{0.1},
                new double[]{0.3}, false);
        List<DataLoader.Batch> prefetched = all(loader, 3);
        List<DataLoader.Batch> sequential = new ArrayList<>();
        for (int i = 0; i < loader.batchesPerEpoch(); i++) {
            sequential.add(loader.batch(3, i));
        }
        assertSameBatches(sequential, prefetched);
    }

    @Test
    void resumingAtAnEpochBoundaryReproduces() {
        Dataset d = indexed(64, 3, 8, 8, 5);
        double[] m = {0.5, 0.4, 0.3};
        double[] s = {0.2, 0.25, 0.3};
        DataLoader uninterrupted = new DataLoader(d, 16, true, 99, DataLoader.Augment.DEFAULT, m, s, true);
        for (int e = 0; e < 3; e++) {
            all(uninterrupted, e);
        }
        List<DataLoader.Batch> epoch3 = all(uninterrupted, 3);
        DataLoader resumed = new DataLoader(d, 16, true, 99, DataLoader.Augment.DEFAULT, m, s, true);
        assertSameBatches(epoch3, all(resumed, 3));
    }

    @Test
    void normalisationIsPerChannel() {
        Dataset d = indexed(5, 2, 3, 3, 6);
        double[] mean = {0.25, 0.75};
        double[] std = {0.5, 0.125};
        DataLoader loader = new DataLoader(d, 5, false, 0, DataLoader.Augment.NONE, mean, std, false);
        DataLoader.Batch b = loader.batch(0, 0);
        byte[] px = d.pixels();
        for (int i = 0; i < px.length; i++) {
            int ch = (i / 9) % 2;
            float want = (float) (((px[i] & 0xff) / 255.0 - mean[ch]) / std[ch]);
            assertEquals(want, b.x()[i], 0f, "element " + i);
        }
    }

    @Test
    void cropAndFlipAreExactAndUniformlyRandom() {
        int h = 12;
        int w = 12;
        int pad = 4;
        byte[] img = new byte[h * w];
        for (int i = 0; i < img.length; i++) {
            img[i] = (byte) (i + 1); // unique, non-zero: any 0 in the output is padding
        }
        int n = 3000;
        DataLoader loader = new DataLoader(copies(img, n, h, w), 100, true, 5, DataLoader.Augment.DEFAULT, ZERO,
                ONE, false);
        int flips = 0;
        int[][] shifts = new int[2 * pad + 1][2 * pad + 1];
        for (DataLoader.Batch b : all(loader, 0)) {
            for (int s = 0; s < b.n(); s++) {
                float[] out = Arrays.copyOfRange(b.x(), s * h * w, (s + 1) * h * w);
                int matches = 0;
                for (int dy = -pad; dy <= pad; dy++) {
                    for (int dx = -pad; dx <= pad; dx++) {
                        for (boolean flip : new boolean[]{false, true}) {
                            if (Arrays.equals(out, expected(img, h, w, dy, dx, flip))) {
                                matches++;
                                shifts[dy + pad][dx + pad]++;
                                flips += flip ? 1 : 0;
                            }
                        }
                    }
                }
                assertEquals(1, matches, "sample must be exactly one pad-crop(+flip) of the image");
            }
        }
        assertTrue(flips > 0.45 * n && flips < 0.55 * n, "flipped " + flips + " of " + n);
        for (int[] row : shifts) {
            for (int count : row) {
                // 81 offsets, ~37 each on average.
                assertTrue(count > 10 && count < 75, "offset count " + count);
            }
        }
    }

    /** Zero-pad by 4, crop at offset (dy, dx) from centre, then mirror along W; values as v/255. */
    private static float[] expected(byte[] img, int h, int w, int dy, int dx, boolean flip) {
        float[] e = new float[h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int cx = flip ? w - 1 - x : x; // column of the (unflipped) crop
                int sy = y + dy;
                int sx = cx + dx;
                if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
                    e[y * w + x] = (float) ((img[sy * w + sx] & 0xff) / 255.0);
                }
            }
        }
        return e;
    }

    @Test
    void flipOnlyMirrorsAlongWidth() {
        int h = 3;
        int w = 4;
        byte[] img = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        DataLoader loader = new DataLoader(copies(img, 400, h, w), 50, false, 3, new DataLoader.Augment(0, true),
                ZERO, ONE, false);
        float[] plain = expected(img, h, w, 0, 0, false);
        float[] mirrored = expected(img, h, w, 0, 0, true);
        assertEquals(4f / 255, mirrored[0], 1e-7f);
        int flipped = 0;
        for (DataLoader.Batch b : all(loader, 1)) {
            for (int s = 0; s < b.n(); s++) {
                float[] out = Arrays.copyOfRange(b.x(), s * h * w, (s + 1) * h * w);
                boolean isPlain = Arrays.equals(out, plain);
                boolean isMirror = Arrays.equals(out, mirrored);
                assertTrue(isPlain ^ isMirror);
                flipped += isMirror ? 1 : 0;
            }
        }
        assertTrue(flipped > 150 && flipped < 250, "flipped " + flipped + " of 400");
    }

    @Test
    void paddingIsZeroAfterNormalisation() {
        byte[] img = new byte[28 * 28];
        Arrays.fill(img, (byte) 255);
        double[] mean = {0.5};
        double[] std = {0.25};
        DataLoader loader = new DataLoader(copies(img, 200, 28, 28), 200, true, 1,
                new DataLoader.Augment(4, false), mean, std, false);
        DataLoader.Batch b = loader.batch(0, 0);
        int withPadding = 0;
        for (int s = 0; s < b.n(); s++) {
            int zeros = 0;
            for (int i = 0; i < 784; i++) {
                float v = b.x()[s * 784 + i];
                assertTrue(v == 0f || v == 2f, "value " + v);
                zeros += v == 0f ? 1 : 0;
            }
            // The visible part is a (28-|dy|) x (28-|dx|) rectangle, so zeros come in those counts only.
            boolean consistent = false;
            for (int dy = 0; dy <= 4; dy++) {
                for (int dx = 0; dx <= 4; dx++) {
                    consistent |= zeros == 784 - (28 - dy) * (28 - dx);
                }
            }
            assertTrue(consistent, "zeros " + zeros);
            withPadding += zeros > 0 ? 1 : 0;
        }
        assertTrue(withPadding > 150, "most crops show padding: " + withPadding);
    }

    @Test
    void augmentationOffIsIdentity() {
        Dataset d = indexed(20, 1, 5, 5, 8);
        DataLoader loader = new DataLoader(d, 20, false, 0, DataLoader.Augment.NONE, ZERO, ONE, false);
        DataLoader.Batch b = loader.batch(4, 0);
        for (int i = 0; i < d.pixels().length; i++) {
            assertEquals((float) ((d.pixels()[i] & 0xff) / 255.0), b.x()[i], 0f);
        }
        assertArrayEquals(IntStream.range(0, 20).toArray(), b.y());
    }

    @Test
    void producerExceptionReachesConsumer() {
        Dataset d = indexed(50, 1, 4, 4, 9);
        DataLoader loader = new DataLoader(d, 10, true, 0, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        loader.beforeBuild(i -> {
            if (i == 2) {
                throw new UserException("boom in batch 2");
            }
        });
        DataLoader.EpochIterator it = loader.epoch(0);
        it.next();
        it.next();
        UserException e = assertThrows(UserException.class, it::next);
        assertEquals("boom in batch 2", e.getMessage());
        it.close();
    }

    @Test
    void iteratorEndsAndCloseStopsThePrefetchThread() throws InterruptedException {
        Dataset d = indexed(1000, 1, 8, 8, 10);
        DataLoader loader = new DataLoader(d, 10, true, 0, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        DataLoader.EpochIterator it = loader.epoch(0);
        assertEquals(100, it.size());
        assertTrue(it.producerThread().isDaemon());
        it.next();
        Thread.sleep(50); // let it fill the queue and block
        it.close();
        it.producerThread().join(5000);
        assertFalse(it.producerThread().isAlive());
        assertFalse(it.hasNext());
        assertThrows(NoSuchElementException.class, it::next);

        DataLoader small = new DataLoader(indexed(5, 1, 2, 2, 1), 2, false, 0, DataLoader.Augment.NONE, ZERO, ONE,
                false);
        Iterator<DataLoader.Batch> it2 = small.epoch(0);
        it2.next();
        it2.next();
        it2.next();
        assertFalse(it2.hasNext());
        assertThrows(NoSuchElementException.class, it2::next);
    }

    @Test
    void abandonedIteratorStopsThePrefetchThread() throws InterruptedException {
        Dataset d = indexed(1000, 1, 8, 8, 11);
        DataLoader loader = new DataLoader(d, 10, true, 0, DataLoader.Augment.DEFAULT, ZERO, ONE, false);
        Thread t = startAndAbandon(loader);
        for (int i = 0; i < 100 && t.isAlive(); i++) {
            System.gc();
            t.join(100);
        }
        assertFalse(t.isAlive(), "prefetch thread still running after its iterator was collected");
    }

    private static Thread startAndAbandon(DataLoader loader) {
        DataLoader.EpochIterator it = loader.epoch(0);
        it.next();
        return it.producerThread();
    }

    @Test
    void rejectsBadArguments() {
        Dataset d = indexed(4, 2, 2, 2, 1);
        double[] two = {0, 0};
        double[] ones = {1, 1};
        assertThrows(IllegalArgumentException.class,
                () -> new DataLoader(d, 0, false, 0, DataLoader.Augment.NONE, two, ones, false));
        assertThrows(IllegalArgumentException.class,
                () -> new DataLoader(d, 2, false, 0, DataLoader.Augment.NONE, ZERO, ONE, false));
        assertThrows(IllegalArgumentException.class,
                () -> new DataLoader(d, 2, false, 0, DataLoader.Augment.NONE, two, new double[]{1, 0}, false));
        assertThrows(IllegalArgumentException.class, () -> new DataLoader.Augment(-1, false));
        DataLoader ok = new DataLoader(d, 2, false, 0, DataLoader.Augment.NONE, two, ones, false);
        assertThrows(IndexOutOfBoundsException.class, () -> ok.batch(0, 2));
        assertNotEquals(0, ok.batchesPerEpoch());
    }
}
