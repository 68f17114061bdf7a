package dev.pdecnn.config;

/**
 * The optimisation part of a validated {@link RunConfig}: the schedule and the SGD step (docs/design.md §3).
 *
 * @param epochs      training epochs; the cosine schedule spans all of them
 * @param batchSize   mini-batch size
 * @param lr          initial learning rate, cosine-decayed to 0 over all steps
 * @param momentum    SGD momentum
 * @param weightDecay L2 weight decay (loss term wd * sum(w^2) / 2)
 * @param seed        seed of the data order and the augmentation (the model part has it for the weights)
 */
public record OptimConfig(int epochs, int batchSize, double lr, double momentum, double weightDecay, long seed) {
}
