package dev.pdecnn.data;

import dev.pdecnn.UserException;

import java.util.Arrays;
import java.util.List;

/**
 * An in-memory labelled image dataset: uint8 pixels in NCHW order plus one class index per sample.
 *
 * <p>Pixels stay as bytes (a quarter of the float size) and are converted, normalised and augmented per
 * mini-batch by {@link DataLoader}. The arrays are shared, not copied, because MNIST/CIFAR training sets
 * are tens of megabytes; callers must treat them as read-only.
 */
public final class Dataset {
    private final String name;
    private final byte[] pixels;
    private final int[] labels;
    private final int n;
    private final int c;
    private final int h;
    private final int w;
    private final List<String> classNames;

    // Statistics are cached because the trainer asks for them once per run and a scan of CIFAR costs ~0.1 s.
    private double[] mean;
    private double[] std;

    /**
     * @param name       short identifier shown in logs, e.g. "mnist"
     * @param pixels     {@code labels.length * c * h * w} unsigned bytes in NCHW order (not copied)
     * @param labels     class index per sample, each in {@code [0, classNames.size())} (not copied)
     * @param classNames human-readable class names; their count defines {@link #numClasses()}
     */
    public Dataset(String name, byte[] pixels, int[] labels, int c, int h, int w, List<String> classNames) {
        if (c <= 0 || h <= 0 || w <= 0) {
            throw new IllegalArgumentException(name + ": non-positive image shape " + c + "x" + h + "x" + w);
        }
        if (classNames.isEmpty()) {
            throw new IllegalArgumentException(name + ": no classes");
        }
        long expected = (long) labels.length * c * h * w;
        if (pixels.length != expected) {
            throw new IllegalArgumentException(name + ": " + pixels.length + " pixel bytes for " + labels.length
                    + " samples of " + c + "x" + h + "x" + w + " (expected " + expected + ")");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= classNames.size()) {
                throw new IllegalArgumentException(name + ": label " + labels[i] + " of sample " + i
                        + " outside 0.." + (classNames.size() - 1));
            }
        }
        this.name = name;
        this.pixels = pixels;
        this.labels = labels;
        this.n = labels.length;
        this.c = c;
        this.h = h;
        this.w = w;
        this.classNames = List.copyOf(classNames);
    }

    public String name() {
        return name;
    }

    /** The raw uint8 pixels, NCHW; shared with this dataset, do not modify. */
    public byte[] pixels() {
        return pixels;
    }

    /** The class index of every sample; shared with this dataset, do not modify. */
    public int[] labels() {
        return labels;
    }

    public int n() {
        return n;
    }

    public int c() {
        return c;
    }

    public int h() {
        return h;
    }

    public int w() {
        return w;
    }

    public int numClasses() {
        return classNames.size();
    }

    public List<String> classNames() {
        return classNames;
    }

    /** Number of samples (same as {@link #n()}). */
    public int size() {
        return n;
    }

    /** Bytes per sample, {@code c * h * w}. */
    public int sampleSize() {
        return c * h * w;
    }

    /** Per-channel mean of the pixels scaled to [0,1]. */
    public synchronized double[] mean() {
        if (mean == null) {
            computeStats();
        }
        return mean.clone();
    }

    /** Per-channel population standard deviation (divide by N, not N-1) of the pixels scaled to [0,1]. */
    public synchronized double[] std() {
        if (std == null) {
            computeStats();
        }
        return std.clone();
    }

    private void computeStats() {
        // A 256-bin histogram per channel makes the sums exact (no float accumulation drift over 47M pixels).
        long[][] hist = new long[c][256];
        int plane = h * w;
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                long[] hc = hist[ch];
                int base = (i * c + ch) * plane;
                for (int p = 0; p < plane; p++) {
                    hc[pixels[base + p] & 0xff]++;
                }
            }
        }
        double[] m = new double[c];
        double[] s = new double[c];
        for (int ch = 0; ch < c; ch++) {
            long count = 0;
            double sum = 0;
            for (int v = 0; v < 256; v++) {
                count += hist[ch][v];
                sum += (double) v * hist[ch][v];
            }
            if (count == 0) {
                // Empty dataset: neutral statistics keep normalisation a no-op instead of dividing by zero.
                m[ch] = 0;
                s[ch] = 1;
                continue;
            }
            double mu = sum / count / 255.0;
            // Two-pass over the histogram avoids the cancellation of E[x^2] - E[x]^2.
            double ss = 0;
            for (int v = 0; v < 256; v++) {
                double d = v / 255.0 - mu;
                ss += d * d * hist[ch][v];
            }
            m[ch] = mu;
            s[ch] = Math.sqrt(ss / count);
        }
        mean = m;
        std = s;
    }

    /**
     * The first {@code count} samples, for quick smoke runs; returns this dataset if it has no more than
     * {@code count} samples. Taking a prefix (not a random sample) keeps runs comparable across seeds; the
     * MNIST and CIFAR files are already class-shuffled, so a prefix is roughly class-balanced.
     */
    public Dataset subset(int count) {
        if (count <= 0) {
            throw new UserException("subset size must be positive, got " + count);
        }
        if (count >= n) {
            return this;
        }
        int ss = sampleSize();
        return new Dataset(name, Arrays.copyOf(pixels, count * ss), Arrays.copyOf(labels, count), c, h, w,
                classNames);
    }

    /**
     * {@code count} samples spread evenly over the whole dataset (indices {@code floor(i * n / count)}), in
     * their original order; returns this dataset if it has no more than {@code count} samples. Unlike
     * {@link #subset(int)} this stays roughly class-balanced on class-sorted data such as an
     * {@link ImageFolder} (which is ordered by class, then file name).
     */
    public Dataset evenSubset(int count) {
        if (count <= 0) {
            throw new UserException("subset size must be positive, got " + count);
        }
        if (count >= n) {
            return this;
        }
        int ss = sampleSize();
        byte[] p = new byte[count * ss];
        int[] l = new int[count];
        for (int i = 0; i < count; i++) {
            int src = (int) ((long) i * n / count);
            System.arraycopy(pixels, src * ss, p, i * ss, ss);
            l[i] = labels[src];
        }
        return new Dataset(name, p, l, c, h, w, classNames);
    }

    @Override
    public String toString() {
        return name + "[" + n + " x " + c + "x" + h + "x" + w + ", " + numClasses() + " classes]";
    }
}
