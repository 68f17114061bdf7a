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
    public Map<String, Object> config;
    public List<EpochStats> history = new ArrayList<>();
    public String format = "pde-trainer-checkpoint-1";
}
