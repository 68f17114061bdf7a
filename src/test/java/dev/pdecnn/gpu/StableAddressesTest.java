package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * From the second training step on, every launch of a step gets the same device addresses as in the step before
 * (emulated device, pool): parameters sit in the store's flat tensors, and the step arena's buffers come back in
 * the order they were taken, so the step's activations, gradients, scratch and even its input batch reuse the
 * same blocks. This is what lets a step be captured once as a CUDA graph and replayed.
 */
class StableAddressesTest {
    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mnist_pde_pm_c8.yaml", "cifar10/row1_resnet32.yaml", "cifar10/row2_resnet32_global.yaml",
            "cifar10/row6_init_basic.yaml"})
    void everyStepLaunchesOnTheSameAddresses(String file) {
        check(file, false);
    }

    /** The Trainer's pattern: the next batch is staged (uploaded on the copy stream) while a step runs. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mnist_pde_const_c8.yaml", "cifar10/row2_resnet32_global.yaml"})
    void alsoWithTheNextBatchStaged(String file) {
        check(file, true);
    }

    /**
     * A staged batch is double-buffered (the next one uploads while this one is read), so its address alternates;
     * a captured graph copies the batch into its own input buffer instead. Every other address must hold still:
     * the batch's (the first argument of the step's first launch) is replaced by a placeholder.
     */
    private static List<String> withoutBatch(List<String> launches) {
        String batch = " " + launches.get(0).split(" ")[1];
        List<String> out = new ArrayList<>();
        for (String l : launches) {
            out.add((l + " ").replace(batch + " ", " BATCH ").strip());
        }
        return out;
    }

    private static void check(String file, boolean staged) {
        RunConfig cfg = Steps.config(file);
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        try (DeviceMemory pool = DeviceMemory.pool(rt, 64L << 20)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            Network net = Models.build(cfg, be);
            int[] y = Steps.labels(2, 3);
            Map<String, Tensor> vel = Steps.velocities();
            List<List<String>> steps = new ArrayList<>();
            Tensor next = Steps.batch(net, 2, DType.F32, 51);
            for (int step = 1; step <= 4; step++) {
                Tensor x = next;
                next = Steps.batch(net, 2, DType.F32, 51 + step);
                if (staged) {
                    be.device().prefetch(next);
                }
                rt.record = new ArrayList<>();
                Steps.sgdStep(net, be, x, y, vel, 0.1, 0.9, 5e-4);
                steps.add(staged ? withoutBatch(rt.record) : rt.record);
            }
            rt.record = null;
            for (int s = 2; s < steps.size(); s++) {
                List<String> a = steps.get(s - 1), b = steps.get(s);
                assertEquals(a.size(), b.size(), file + ": launches of steps " + s + " and " + (s + 1));
                for (int i = 0; i < a.size(); i++) {
                    assertEquals(a.get(i), b.get(i), file + ": launch " + i + " of step " + (s + 1) + " vs step " + s);
                }
            }
            be.device().releaseDevice();
        }
    }
}
