package dev.pdecnn.backend;

import java.util.Arrays;
import java.util.List;

/**
 * Which kind of step {@link Device#step} runs: steps with equal keys issue the same operations on the same shapes,
 * so a device that captures a step as a CUDA graph replays it for every later step of that key.
 *
 * @param phase       training (forward, loss, backward, update) or evaluation (forward, logits read)
 * @param batchShape  the input batch's shape
 * @param predictions whether a training step also reads the per-sample argmax (another read, so another graph)
 */
public record StepKey(Phase phase, List<Integer> batchShape, boolean predictions) {
    public enum Phase { TRAIN, EVAL }

    public StepKey {
        batchShape = List.copyOf(batchShape);
    }

    public static StepKey train(int[] batchShape, boolean predictions) {
        return new StepKey(Phase.TRAIN, Arrays.stream(batchShape).boxed().toList(), predictions);
    }

    public static StepKey eval(int[] batchShape) {
        return new StepKey(Phase.EVAL, Arrays.stream(batchShape).boxed().toList(), false);
    }
}
