package dev.pdecnn.gpu;

import dev.pdecnn.backend.StepKey;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.StepGraphs;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The step-graph machinery on a small step (emulated device): the switch, a step that reads the device mid-way
 * (it cannot be one graph: it runs eagerly and stays right), and a replayed step that sees each step's new input.
 */
class StepGraphsTest {
    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();

    @Test
    void theSwitchReadsZeroFalseOffNoAsOff() {
        for (String off : new String[]{"0", "false", "OFF", " no "}) {
            assertFalse(StepGraphs.switchedOn(off, null, true), off);
            assertFalse(StepGraphs.switchedOn(null, off, true), off);
        }
        assertTrue(StepGraphs.switchedOn(null, null, true));
        assertFalse(StepGraphs.switchedOn(null, null, false), "unset follows the runner's default");
        assertTrue(StepGraphs.switchedOn("1", null, false));
        assertTrue(StepGraphs.switchedOn("0", "true", false), "the Java property wins over the environment");
        assertFalse(StepGraphs.switchedOn("1", "0", true));
    }

    /** relu(x + x) as a step, its output downloaded after the step; random inputs, an odd size. */
    private static float[] step(CudaBackend be, float[] in, boolean readMidStep) {
        return step(be, in, readMidStep, false);
    }

    /** {@code extra}: one more launch (a step unlike the others; the result is the same). */
    private static float[] step(CudaBackend be, float[] in, boolean readMidStep, boolean extra) {
        Tensor x = Tensor.of(in.clone(), 1, 1, 1, in.length);
        return be.device().step(StepKey.eval(x.shape()), () -> {
            Tensor s = be.arena().like(x), y = be.arena().like(x);
            be.add(x, x, s);
            if (extra) {
                be.relu(s, y);
            }
            if (readMidStep) {
                s.download(); // a synchronous host read inside the step
            }
            be.relu(s, y);
            Runnable landed = be.device().downloadLater(y);
            return () -> {
                landed.run();
                return y.copy().f32();
            };
        });
    }

    @Test
    void replaysSeeEachStepsInputAndAMidStepReadRunsEagerly() {
        try (DeviceMemory pool = DeviceMemory.pool(DEVICE.runner(), 1 << 20)) {
            for (boolean mid : new boolean[]{false, true}) {
                CudaBackend be = new CudaBackend(pool, DType.F32, CudaBackend.defaultOptions(pool.runner()).withGraphs(true));
                assertTrue(be.device().graphs());
                SplittableRandom r = new SplittableRandom(mid ? 2 : 1);
                for (int i = 0; i < 6; i++) {
                    float[] in = new float[37];
                    float[] want = new float[in.length];
                    for (int j = 0; j < in.length; j++) {
                        in[j] = (float) r.nextGaussian();
                        want[j] = Math.max(0f, in[j] + in[j]);
                    }
                    assertArrayEquals(want, step(be, in, mid), "step " + i + (mid ? " with a mid-step read" : ""));
                }
                StepGraphs.Stats st = be.device().graphStats();
                if (mid) {
                    assertEquals(0, st.captures(), st.toString());
                    assertEquals(6, st.eagerSteps(), st.toString());
                } else {
                    assertEquals(1, st.captures(), st.toString());
                    assertEquals(5, st.replays(), st.toString()); // the first step warms up, the second is captured
                    assertEquals(1, st.lastStepSubmissions(), st.toString());
                }
                be.device().releaseDevice();
            }
        }
    }

    /** A step unlike the graph runs eagerly and leaves the graph for the steps that match it again. */
    @Test
    void aDifferentStepRunsEagerlyAndTheGraphStays() {
        try (DeviceMemory pool = DeviceMemory.pool(DEVICE.runner(), 1 << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32, CudaBackend.defaultOptions(pool.runner()).withGraphs(true));
            SplittableRandom r = new SplittableRandom(3);
            boolean[] extra = {false, false, false, true, false, false};
            for (int i = 0; i < extra.length; i++) {
                float[] in = new float[19];
                float[] want = new float[in.length];
                for (int j = 0; j < in.length; j++) {
                    in[j] = (float) r.nextGaussian();
                    want[j] = Math.max(0f, in[j] + in[j]);
                }
                assertArrayEquals(want, step(be, in, false, extra[i]), "step " + i);
            }
            StepGraphs.Stats st = be.device().graphStats();
            assertEquals(1, st.captures(), st.toString());
            assertEquals(2, st.eagerSteps(), st.toString()); // the warm-up and the different step
            assertEquals(4, st.replays(), st.toString());
            be.device().releaseDevice();
        }
    }
}
