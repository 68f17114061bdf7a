package dev.pdecnn.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Everything besides tensors that resuming needs: where training stopped and what it has seen. The data
 * order and augmentation are pure functions of (seed, epoch), so no RNG state has to be carried.
 */
public final class TrainState {
    public String model;
    public int epochsDone;
    public long step;
    public double bestTestAcc = -1;
    public int bestEpoch = 0;
    public double wallSeconds;
    public double[] mean;
    public double[] std;
    /**
     * The training split's class names, label order (MNIST "0".."9", CIFAR-10's names, an image folder's sorted
     * sub-folder names); null in checkpoints written before they were recorded (see {@link Checkpoint#classNames}).
     */
    public List<String> classNames;
    public Map<String, Object> config;
    public List<EpochStats> history = new ArrayList<>();
    /**
     * A mid-epoch checkpoint (a stop signal, --checkpoint-every): batches of epoch {@code epochsDone + 1} already
     * trained, and that epoch's running train-loss and accuracy sums and seconds, so the resumed epoch's metrics
     * row equals the uninterrupted one. 0 and zeros at an epoch's end.
     */
    public int batchesDone;
    public double epochLossSum;
    public long epochCorrect;
    public long epochSeen;
    public double epochSeconds;
    /** Where a forked run came from: checkpoint, run folder, epoch, step, batch (null for a run started fresh). */
    public Map<String, Object> resumedFrom;
    public String format = "pde-trainer-checkpoint-1";
}
