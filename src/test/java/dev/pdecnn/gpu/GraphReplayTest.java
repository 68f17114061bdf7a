package dev.pdecnn.gpu;

import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.TrainStep;
import dev.pdecnn.train.Trainer;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CUDA graphs of the training and evaluation steps replay exactly the eager steps: for each of the 16 models, two
 * networks from the same weights train on the emulated device (pools, as on a GPU), one with graphs, one without (the
 * default), over 20 steps of the Trainer's pattern: batches of 2 with a last, smaller batch
 * of 1 closing each "epoch" of 10 steps (a second batch shape, so a second graph), and the learning rate of the
 * cosine schedule changing every step (a node update of the SGD launch). Loss, predictions, every weight, gradient,
 * velocity and batch-norm statistic must be bit for bit equal after every step (no tolerance: the same kernels
 * with the same arguments on the same data, so any difference is a replay that ran something else: a stale
 * argument, a missed upload, a read before the graph ran), and so must the logits of evaluation steps. States are
 * compared after steps 1, 2, 10, 11 and 20 (the emulation's time goes into the steps; a wrong replay shows in every
 * later loss, all of which are compared).
 */
class GraphReplayTest {
    /** Two devices (two emulator processes), so the two networks' steps run side by side on two cores. */
    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass(), EAGER_DEVICE = new Emulated.PerClass();
    static final ExecutorService SIDE = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "eager-steps");
        t.setDaemon(true);
        return t;
    });

    static final int STEPS = 20, EPOCH = 10, BATCH = 2, LAST = 1;

    static List<String> configs() {
        return TrainStepEquivalenceTest.configs();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void replayedStepsEqualEagerSteps(String file) {
        RunConfig cfg = Steps.config(file);
        Network init = Models.build(cfg, new CpuBackend());
        try (DeviceMemory poolG = DeviceMemory.pool(DEVICE.runner(), 64L << 20);
             DeviceMemory poolE = DeviceMemory.pool(EAGER_DEVICE.runner(), 64L << 20)) {
            CudaBackend graphs = new CudaBackend(poolG, DType.F32, CudaBackend.defaultOptions(poolG.runner()).withGraphs(true));
            CudaBackend eager = eagerBackend(poolE);
            assertTrue(graphs.device().graphs(), "graphs asked for on a pool");
            assertFalse(eager.device().graphs(), "graphs off: the default");
            Network a = Models.build(cfg, graphs), b = Models.build(cfg, eager);
            Steps.copyWeights(init, a);
            Steps.copyWeights(init, b);
            TrainStep sa = new TrainStep(a), sb = new TrainStep(b);
            long eagerSubs = 0, graphSubs = 0;
            for (int step = 0; step < STEPS; step++) {
                int n = step % EPOCH == EPOCH - 1 ? LAST : BATCH;
                double lr = Trainer.cosine(0.1, step, STEPS);
                int[] y = Steps.labels(n, 100 + step);
                int[] pa = new int[n], pb = new int[n];
                                long g0 = graphs.device().submissions(), e0 = eager.device().submissions();
                Tensor xb = Steps.batch(b, n, DType.F32, step);
                Future<Double> side = SIDE.submit(() -> sb.train(xb, y, lr, 0.9, 5e-4, pb));
                double la = sa.train(Steps.batch(a, n, DType.F32, step), y, lr, 0.9, 5e-4, pa);
                long g1 = graphs.device().submissions();
                double lb = join(side);
                long e1 = eager.device().submissions();
                String at = file + " step " + (step + 1) + " (batch " + n + ")";
                assertEquals(Double.doubleToRawLongBits(lb), Double.doubleToRawLongBits(la), at + ": loss " + la + " vs " + lb);
                assertArrayEquals(pb, pa, at + ": predictions");
                if (step == STEPS - 2) { // a full batch late in the run: its graph exists and replays
                    graphSubs = g1 - g0;
                    eagerSubs = e1 - e0;
                }
                // every state after the first step, around the smaller batch and at the end (the emulation's time
                // goes into the steps; a wrong replay shows in the loss of the steps after it, which are all checked)
                if (step == 0 || step == 1 || step == EPOCH - 1 || step == EPOCH || step == STEPS - 1) {
                    assertSameState(a, b, at);
                }
            }
            var st = graphs.device().graphStats();
            assertEquals(1, graphSubs, file + ": a replayed step is one submission " + st);
            assertTrue(st.captures() >= 2 && st.captures() <= 3, file + ": one graph per batch shape " + st);
            assertTrue(st.replays() >= STEPS - 7, file + ": steps replayed " + st);
            assertTrue(st.updatedLaunches() >= st.replays() - st.captures(), file + ": the lr changes every step " + st);
            assertEquals(0, eager.device().graphStats().replays());

            for (int i = 0; i < 4; i++) { // evaluation: BN running statistics, logits read after the replay
                int n = i == 3 ? LAST : BATCH;
                float[] la = logits(a, n, 900 + i), lb = logits(b, n, 900 + i);
                assertArrayEquals(lb, la, file + " eval batch " + i);
            }
            assertTrue(graphs.device().graphStats().captures() > st.captures(), file + ": the evaluation step has its graph");
            System.out.printf(Locale.ROOT, "[graphs] %-44s eager step %4d submissions; replay 1 (graph of %d nodes); %s%n",
                    file, eagerSubs, st.lastGraphNodes(), graphs.device().graphStats());
            graphs.device().releaseDevice();
            eager.device().releaseDevice();
        }
    }

    private static <T> T join(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } catch (ExecutionException e) {
            throw new AssertionError("the eager step failed", e.getCause());
        }
    }

    /** A backend with graphs off, every device's default (as {@code PDECNN_CUDA_GRAPHS=0} would have it too). */
    static CudaBackend eagerBackend(DeviceMemory pool) {
        return new CudaBackend(pool, DType.F32, CudaBackend.defaultOptions(pool.runner()).withGraphs(false));
    }

    static float[] logits(Network net, int n, long seed) {
        return new TrainStep(net).eval(Steps.batch(net, n, DType.F32, seed), t -> t.copy().f32());
    }

    /** Every parameter, gradient and buffer (BN statistics) and every velocity, bit for bit. */
    static void assertSameState(Network a, Network b, String at) {
        Map<String, Param> pa = a.namedParams(), pb = b.namedParams();
        for (String k : pa.keySet()) {
            assertArrayEquals(bits(pb.get(k).value), bits(pa.get(k).value), at + ": " + k);
            if (pa.get(k).trainable) {
                assertArrayEquals(bits(pb.get(k).grad), bits(pa.get(k).grad), at + ": gradient of " + k);
            }
        }
        assertArrayEquals(bits(b.paramStore().velocity()), bits(a.paramStore().velocity()), at + ": velocities");
    }

    private static int[] bits(Tensor t) {
        float[] f = t.download().copy().f32();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            b[i] = Float.floatToRawIntBits(f[i]);
        }
        return b;
    }
}
