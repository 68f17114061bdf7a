package dev.pdecnn.train;

/**
 * One epoch's metrics; accuracies are fractions in [0, 1]. {@code testDiverged}: test images whose logits were
 * not finite (counted wrong, left out of {@code testLoss}); 0 in checkpoints written before it existed.
 */
public record EpochStats(int epoch, double trainLoss, double trainAcc, double testLoss, double testAcc, double lr,
                         double seconds, double imagesPerSecond, int testDiverged) {
}
