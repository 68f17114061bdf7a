package dev.pdecnn.train;

/** One epoch's metrics; accuracies are fractions in [0, 1]. */
public record EpochStats(int epoch, double trainLoss, double trainAcc, double testLoss, double testAcc, double lr,
                         double seconds, double imagesPerSecond) {
}
