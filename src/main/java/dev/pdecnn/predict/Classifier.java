package dev.pdecnn.predict;

import java.util.List;

/**
 * A trained image classifier as {@code predict} sees it, whatever runs it (our network in evaluation mode, or an
 * exported model in another runtime): the input it takes, the normalisation its inputs need, and a batch of
 * normalised images to logits. Image reading and resizing live elsewhere ({@link dev.pdecnn.data.ImageInput}), so
 * every implementation gets the same pixels.
 */
public interface Classifier extends AutoCloseable {
    /** Input channels, height and width. */
    int[] inputShape();

    /** Per-channel mean and standard deviation of [0, 1]-scaled pixels: inputs are {@code (v/255 - mean) / std}. */
    double[] mean();

    double[] std();

    /** Class names in logit order, one per logit. */
    List<String> classNames();

    /** Logits of {@code n} normalised images, NCHW in {@code nchwBatch}: {@code n} rows of one value per class. */
    float[][] logits(float[] nchwBatch, int n);

    /** Releases what the classifier holds (a device, a runtime session); nothing by default. */
    @Override
    default void close() {
    }
}
