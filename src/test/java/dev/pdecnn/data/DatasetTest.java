package dev.pdecnn.data;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DatasetTest {
    private static Dataset twoChannel() {
        // 2 samples, 2 channels, 1x2 pixels. Channel 0 values {0, 255, 255, 255}; channel 1 all 51.
        byte[] px = {0, (byte) 255, 51, 51, (byte) 255, (byte) 255, 51, 51};
        return new Dataset("t", px, new int[]{0, 1}, 2, 1, 2, List.of("a", "b"));
    }

    @Test
    void perChannelMeanAndPopulationStd() {
        Dataset d = twoChannel();
        assertEquals(2, d.size());
        assertEquals(4, d.sampleSize());
        assertEquals(2, d.numClasses());
        double[] mean = d.mean();
        double[] std = d.std();
        assertEquals(0.75, mean[0], 1e-12);
        assertEquals(0.2, mean[1], 1e-12);
        // Population std of {0,1,1,1} is sqrt(3/16).
        assertEquals(Math.sqrt(3.0 / 16), std[0], 1e-12);
        assertEquals(0.0, std[1], 1e-12);
    }

    @Test
    void subsetTakesPrefix() {
        Dataset d = twoChannel();
        Dataset s = d.subset(1);
        assertEquals(1, s.size());
        assertArrayEquals(new byte[]{0, (byte) 255, 51, 51}, s.pixels());
        assertArrayEquals(new int[]{0}, s.labels());
        assertSame(d, d.subset(2));
        assertSame(d, d.subset(100));
        assertThrows(UserException.class, () -> d.subset(0));
    }

    @Test
    void evenSubsetSpreadsOverClassSortedData() {
        // 10 one-pixel samples, labels 0,0,0,0,0,1,1,1,1,1 (class-sorted like an image folder); value = index.
        byte[] px = new byte[10];
        int[] lab = new int[10];
        for (int i = 0; i < 10; i++) {
            px[i] = (byte) i;
            lab[i] = i / 5;
        }
        Dataset d = new Dataset("t", px, lab, 1, 1, 1, List.of("a", "b"));
        Dataset s = d.evenSubset(4); // indices floor(i*10/4) = 0, 2, 5, 7
        assertArrayEquals(new byte[]{0, 2, 5, 7}, s.pixels());
        assertArrayEquals(new int[]{0, 0, 1, 1}, s.labels());
        assertSame(d, d.evenSubset(10));
        assertThrows(UserException.class, () -> d.evenSubset(0));
    }

    @Test
    void rejectsInconsistentArrays() {
        assertThrows(IllegalArgumentException.class,
                () -> new Dataset("x", new byte[3], new int[]{0}, 1, 2, 2, List.of("a")));
        assertThrows(IllegalArgumentException.class,
                () -> new Dataset("x", new byte[4], new int[]{1}, 1, 2, 2, List.of("a")));
    }
}
