package dev.pdecnn.data;

import java.awt.image.BufferedImage;
import java.nio.file.Path;

/**
 * One image file as a model input: 8-bit planes of exactly the model's channels, height and width, the form the
 * training data had before normalisation ({@link DataLoader#normalisation}).
 *
 * <p><b>Size.</b> Training used every data set at its native size (MNIST 28x28, CIFAR-10 32x32; an image folder
 * must hold images of one size), without any resizing. So an image of the model's size passes through unchanged,
 * pixel for pixel as in training; any other size is centre-cropped to the model's aspect ratio and then resampled
 * to its size with a triangle (bilinear) filter whose support widens with the reduction factor, as PIL's and
 * torchvision's anti-aliased bilinear resize do, so that shrinking averages every source pixel instead of
 * aliasing.
 *
 * <p><b>Channels.</b> Decoded by {@link ImageDecoder} (PNG, JPEG; its size limits) and {@link ImageFolder#extract}
 * (grey or RGB, alpha dropped, 16-bit scaled). A colour image for a grey model becomes its luma,
 * {@code 0.299 R + 0.587 G + 0.114 B} (ITU-R BT.601, what PIL's {@code convert("L")} computes); a grey image for an
 * RGB model is copied into all three channels.
 */
public final class ImageInput {
    private ImageInput() {
    }

    /**
     * Reads {@code file} as {@code c x h x w} bytes (planes, row-major). Every failure is a
     * {@link dev.pdecnn.UserException} naming the file.
     */
    public static byte[] load(Path file, int c, int h, int w) {
        if (!java.nio.file.Files.exists(file)) {
            throw new dev.pdecnn.UserException(file + ": no such file");
        }
        BufferedImage img = ImageDecoder.read(file);
        int sw = img.getWidth(), sh = img.getHeight(), plane = sw * sh;
        byte[] px = new byte[3 * plane];
        boolean gray = ImageFolder.extract(img, px, 0, plane);
        return fit(toChannels(px, gray ? 1 : 3, plane, c), c, sh, sw, h, w);
    }

    /** Planes of {@code srcC} channels (1 or 3) as {@code c} channels (1 or 3); see the class comment. */
    static byte[] toChannels(byte[] px, int srcC, int plane, int c) {
        byte[] out = new byte[c * plane];
        if (c == srcC) {
            System.arraycopy(px, 0, out, 0, out.length);
        } else if (c == 1) {
            for (int i = 0; i < plane; i++) {
                double y = 0.299 * (px[i] & 0xff) + 0.587 * (px[plane + i] & 0xff) + 0.114 * (px[2 * plane + i] & 0xff);
                out[i] = (byte) Math.min(255, (int) Math.round(y));
            }
        } else {
            for (int ch = 0; ch < c; ch++) {
                System.arraycopy(px, 0, out, ch * plane, plane);
            }
        }
        return out;
    }

    /** {@code c} planes of {@code sh x sw} centre-cropped to the aspect of {@code h x w} and resampled to it. */
    static byte[] fit(byte[] src, int c, int sh, int sw, int h, int w) {
        if (sh == h && sw == w) {
            return src;
        }
        // The largest centred window of the target's aspect ratio: sw/sh against w/h, compared without division.
        int cw = sw, ch = sh;
        if ((long) sw * h > (long) sh * w) {
            cw = (int) Math.max(1, Math.round((double) sh * w / h));
        } else {
            ch = (int) Math.max(1, Math.round((double) sw * h / w));
        }
        int x0 = (sw - cw) / 2, y0 = (sh - ch) / 2;
        Taps cols = Taps.of(cw, w), rows = Taps.of(ch, h);
        byte[] out = new byte[c * h * w];
        double[] tmp = new double[ch * w]; // the crop's rows resampled horizontally
        for (int p = 0; p < c; p++) {
            int base = p * sh * sw;
            for (int y = 0; y < ch; y++) {
                int row = base + (y0 + y) * sw + x0;
                for (int x = 0; x < w; x++) {
                    double s = 0;
                    for (int k = 0; k < cols.count[x]; k++) {
                        s += cols.weight[x][k] * (src[row + cols.first[x] + k] & 0xff);
                    }
                    tmp[y * w + x] = s;
                }
            }
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    double s = 0;
                    for (int k = 0; k < rows.count[y]; k++) {
                        s += rows.weight[y][k] * tmp[(rows.first[y] + k) * w + x];
                    }
                    out[p * h * w + y * w + x] = (byte) Math.max(0, Math.min(255, (int) Math.round(s)));
                }
            }
        }
        return out;
    }

    /** One axis of the resampling: for each output index, the first input index and the normalised weights. */
    private record Taps(int[] first, int[] count, double[][] weight) {
        static Taps of(int in, int out) {
            double scale = (double) in / out;
            double support = Math.max(1, scale); // the triangle's half-width in input pixels
            int[] first = new int[out], count = new int[out];
            double[][] weight = new double[out][];
            for (int o = 0; o < out; o++) {
                double centre = (o + 0.5) * scale; // pixel centres: output o covers input [o*scale, (o+1)*scale)
                int lo = Math.max(0, (int) Math.floor(centre - support));
                int hi = Math.min(in, (int) Math.ceil(centre + support));
                double[] wt = new double[hi - lo];
                double sum = 0;
                for (int i = lo; i < hi; i++) {
                    wt[i - lo] = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
                    sum += wt[i - lo];
                }
                for (int k = 0; k < wt.length; k++) {
                    wt[k] /= sum; // sum > 0: the input pixel nearest the centre always has weight > 0
                }
                first[o] = lo;
                count[o] = wt.length;
                weight[o] = wt;
            }
            return new Taps(first, count, weight);
        }
    }
}
