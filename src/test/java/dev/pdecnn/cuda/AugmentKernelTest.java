package dev.pdecnn.cuda;

import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.data.DataLoader;
import dev.pdecnn.data.Dataset;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On-device augmentation (gather, pad-crop, flip, normalise) against the host {@link DataLoader}: bit for bit,
 * since both read the same normalisation table. The loader draws its crop offsets and flips internally, so the
 * augmented comparison recovers each sample's (dy, dx, flip) by search and then requires the kernel to
 * reproduce the loader's batch exactly with them.
 */
class AugmentKernelTest {
    static final int C = 3, H = 7, W = 6, N = 12;
    static final double[] MEAN = {0.49, 0.48, 0.45}, STD = {0.25, 0.24, 0.26};

    private static Dataset dataset() {
        SplittableRandom r = new SplittableRandom(41);
        byte[] px = new byte[N * C * H * W];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) r.nextInt(256);
        }
        int[] labels = new int[N];
        return new Dataset("random", px, labels, C, H, W, List.of("0"));
    }

    /** The loader's table: (v / 255 - mean) / std, rounded to the tensor type. */
    private static Tensor lut(DType t) {
        Tensor l = Tensor.zeros(t, C * 256);
        for (int c = 0; c < C; c++) {
            for (int v = 0; v < 256; v++) {
                l.set(c * 256 + v, t == DType.F32 ? (float) ((v / 255.0 - MEAN[c]) / STD[c]) : (v / 255.0 - MEAN[c]) / STD[c]);
            }
        }
        return l;
    }

    /** Transcription of the augmentation of one sample (DataLoader.fill) for given offsets. */
    private static double[] reference(byte[] px, int idx, int dy, int dx, boolean flip, Tensor lut) {
        double[] out = new double[C * H * W];
        for (int c = 0; c < C; c++) {
            for (int oy = 0; oy < H; oy++) {
                int sy = oy + dy;
                for (int ox = 0; ox < W; ox++) {
                    int sx = (flip ? W - 1 - ox : ox) + dx;
                    if (sy >= 0 && sy < H && sx >= 0 && sx < W) {
                        out[(c * H + oy) * W + ox] = lut.get(c * 256 + (px[((idx * C + c) * H + sy) * W + sx] & 0xff));
                    }
                }
            }
        }
        return out;
    }

    @Test
    void normalisationEqualsLoaderBitForBit() {
        Dataset d = dataset();
        CudaBackend be = Kernels.backend(DType.F32);
        DataLoader loader = new DataLoader(d, 5, false, 3, DataLoader.Augment.NONE, MEAN, STD, false);
        DataLoader.Batch b = loader.batch(0, 1);
        int[] index = {5, 6, 7, 8, 9}, zero = new int[5];
        Tensor out = Tensor.zeros(DType.F32, 5, C, H, W);
        be.augment(d.pixels(), C, H, W, index, zero, zero, zero, lut(DType.F32), out);
        assertArrayEquals(b.x(), out.f32());
    }

    @Test
    void padCropFlipEqualsLoaderBitForBit() {
        Dataset d = dataset();
        CudaBackend be = Kernels.backend(DType.F32);
        int pad = 2, n = 8;
        DataLoader loader = new DataLoader(d, n, true, 9, new DataLoader.Augment(pad, true), MEAN, STD, false);
        int[] order = loader.order(4);
        DataLoader.Batch b = loader.batch(4, 0);
        Tensor lut = lut(DType.F32);
        int[] index = new int[n], dys = new int[n], dxs = new int[n], flips = new int[n];
        int plane = C * H * W;
        for (int j = 0; j < n; j++) {
            index[j] = order[j];
            double[] want = new double[plane];
            for (int i = 0; i < plane; i++) {
                want[i] = b.x()[j * plane + i];
            }
            boolean found = false;
            for (int dy = -pad; dy <= pad && !found; dy++) {
                for (int dx = -pad; dx <= pad && !found; dx++) {
                    for (int fl = 0; fl < 2 && !found; fl++) {
                        if (java.util.Arrays.equals(want, reference(d.pixels(), index[j], dy, dx, fl == 1, lut))) {
                            dys[j] = dy;
                            dxs[j] = dx;
                            flips[j] = fl;
                            found = true;
                        }
                    }
                }
            }
            assertTrue(found, "the loader's sample " + j + " is a pad-crop-flip of its source image");
        }
        Tensor out = Tensor.zeros(DType.F32, n, C, H, W);
        be.augment(d.pixels(), C, H, W, index, dys, dxs, flips, lut, out);
        assertArrayEquals(b.x(), out.f32());
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void randomOffsetsAndFlipsEqualTranscription(DType t) {
        Dataset d = dataset();
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(42);
        int n = 37, pad = 4;
        int[] index = new int[n], dys = new int[n], dxs = new int[n], flips = new int[n];
        for (int j = 0; j < n; j++) {
            index[j] = r.nextInt(N);
            dys[j] = r.nextInt(2 * pad + 1) - pad;
            dxs[j] = r.nextInt(2 * pad + 1) - pad;
            flips[j] = r.nextInt(2);
        }
        Tensor lut = lut(t), out = Tensor.zeros(t, n, C, H, W);
        be.augment(d.pixels(), C, H, W, index, dys, dxs, flips, lut, out);
        int plane = C * H * W;
        for (int j = 0; j < n; j++) {
            double[] want = reference(d.pixels(), index[j], dys[j], dxs[j], flips[j] == 1, lut);
            for (int i = 0; i < plane; i++) {
                double got = out.get(j * plane + i);
                assertTrue(got == want[i], "slot " + j + " element " + i + ": " + got + " vs " + want[i]);
            }
        }
    }
}
