package dev.pdecnn.data;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fitting decoded pixels to a model's input: pass-through, centre crop, anti-aliased resize, channel conversion. */
class ImageInputTest {
    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    @Test
    void modelSizedImagesPassThroughUnchanged() {
        for (long seed = 1; seed <= 3; seed++) {
            byte[] px = random(3 * 32 * 32, seed);
            assertArrayEquals(px, ImageInput.fit(px, 3, 32, 32, 32, 32));
        }
    }

    /** Any resize of a constant image is that constant: the weights of every output pixel sum to 1. */
    @Test
    void constantStaysConstantAtAnySize() {
        SplittableRandom r = new SplittableRandom(7);
        for (int t = 0; t < 20; t++) {
            int sh = 1 + r.nextInt(90), sw = 1 + r.nextInt(90), v = r.nextInt(256);
            byte[] px = new byte[sh * sw];
            java.util.Arrays.fill(px, (byte) v);
            byte[] out = ImageInput.fit(px, 1, sh, sw, 28, 28);
            for (byte b : out) {
                assertEquals(v, b & 0xff, sh + "x" + sw);
            }
        }
    }

    /** A wide image is centre-cropped: the white middle square fills the output, the black sides are cut off. */
    @Test
    void wideAndTallImagesAreCentreCropped() {
        byte[] wide = new byte[28 * 84];
        byte[] tall = new byte[84 * 28];
        for (int y = 0; y < 28; y++) {
            for (int x = 28; x < 56; x++) {
                wide[y * 84 + x] = (byte) 255;
                tall[x * 28 + y] = (byte) 255;
            }
        }
        for (byte b : ImageInput.fit(wide, 1, 28, 84, 28, 28)) {
            assertEquals(255, b & 0xff);
        }
        for (byte b : ImageInput.fit(tall, 1, 84, 28, 28, 28)) {
            assertEquals(255, b & 0xff);
        }
    }

    /**
     * Halving averages: each output pixel of a 2x reduction is a weighted mean of a 4x4 neighbourhood with the
     * triangle weights 1/8, 3/8, 3/8, 1/8 per axis (clipped and renormalised at the borders), computed here
     * independently of the implementation. Rounding to bytes allows 0.5.
     */
    @Test
    void halvingIsTheTriangleFilteredMean() {
        int n = 64, m = 32;
        byte[] px = random(n * n, 11);
        byte[] out = ImageInput.fit(px, 1, n, n, m, m);
        double[] w = {1 / 8.0, 3 / 8.0, 3 / 8.0, 1 / 8.0};
        for (int y = 0; y < m; y++) {
            for (int x = 0; x < m; x++) {
                double s = 0, ws = 0;
                for (int a = 0; a < 4; a++) {
                    for (int b = 0; b < 4; b++) {
                        int iy = 2 * y - 1 + a, ix = 2 * x - 1 + b;
                        if (iy >= 0 && iy < n && ix >= 0 && ix < n) {
                            s += w[a] * w[b] * (px[iy * n + ix] & 0xff);
                            ws += w[a] * w[b];
                        }
                    }
                }
                assertTrue(Math.abs(s / ws - (out[y * m + x] & 0xff)) <= 0.5 + 1e-9, y + "," + x);
            }
        }
    }

    @Test
    void channelConversion() {
        int plane = 5;
        byte[] rgb = random(3 * plane, 3);
        byte[] grey = ImageInput.toChannels(rgb, 3, plane, 1);
        for (int i = 0; i < plane; i++) {
            double luma = 0.299 * (rgb[i] & 0xff) + 0.587 * (rgb[plane + i] & 0xff) + 0.114 * (rgb[2 * plane + i] & 0xff);
            assertEquals(Math.round(luma), grey[i] & 0xff);
        }
        byte[] three = ImageInput.toChannels(grey, 1, plane, 3);
        for (int c = 0; c < 3; c++) {
            assertArrayEquals(grey, java.util.Arrays.copyOfRange(three, c * plane, (c + 1) * plane));
        }
        assertArrayEquals(rgb, ImageInput.toChannels(rgb, 3, plane, 3));
    }
}
