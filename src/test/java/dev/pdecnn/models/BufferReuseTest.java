package dev.pdecnn.models;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import dev.pdecnn.train.TrainStep;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The CPU backends' step arenas hand the same tensors back every step, and a gradient a Sequential released to
 * the next layer of its shape. With every such tensor filled with NaN before use, training steps and an
 * evaluation batch of another size must give bit for bit what fresh zero tensors give: every operation writes
 * every element of its outputs, no module reads a reused tensor of an earlier step, and no gradient is released
 * while someone still reads it.
 */
class BufferReuseTest {
    /** The same backend with an arena that hands out fresh zero tensors, as before tensors were reused. */
    private static Backend fresh(Backend be) {
        StepArena arena = StepArena.fresh(shape -> Tensor.zeros(be.dtype(), shape), () -> { });
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, m, args) -> {
                    if (m.getName().equals("arena")) {
                        return arena;
                    }
                    try {
                        return m.invoke(be, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    private static Tensor batch(Network net, Backend be, int n, long seed) {
        int[] chw = net.inputChw;
        Tensor x = Tensor.zeros(be.dtype(), n, chw[0], chw[1], chw[2]);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < x.size(); i++) {
            x.set(i, (float) r.nextGaussian());
        }
        return x;
    }

    /** A training step (SGD with momentum) or an evaluation batch; returns the logits' copy. */
    private static Tensor step(Network net, Tensor x, boolean train) {
        TrainStep step = new TrainStep(net);
        if (!train) {
            return step.eval(x, Tensor::copy);
        }
        int[] y = new int[x.dim(0)];
        for (int i = 0; i < y.length; i++) {
            y[i] = i % 10;
        }
        step.train(x, y, 0.05, 0.9, 1e-3, null);
        return step.eval(x, Tensor::copy); // the logits after the update, with the BN statistics it updated
    }

    private static void assertSame(Tensor a, Tensor b, String what) {
        assertEquals(b.size(), a.size(), what);
        for (int i = 0; i < a.size(); i++) {
            if (Double.doubleToLongBits(a.get(i)) != Double.doubleToLongBits(b.get(i))) {
                throw new AssertionError(what + "[" + i + "]: reused " + a.get(i) + ", fresh " + b.get(i));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
            // only the fast float32 backend reuses buffers (the float64 reference allocates fresh tensors)
            "cifar10/row1_resnet32.yaml", "cifar10/row2_resnet32_global.yaml",
            "cifar10/row4_basic_basic.yaml", "cifar10/row5_perona_malik.yaml",
            "cifar10/row6_init_basic.yaml", "cifar10/row7_diffusion.yaml", "cifar10/row8_advection.yaml",
            "cifar10/diffusion_exact_zero.yaml",
            "mnist_cnn_c8.yaml", "mnist_residual_c8.yaml", "mnist_pde_const_c8.yaml", "mnist_pde_pm_c8.yaml",
    })
    void reusedBuffersGiveTheSameSteps(String file) {
        Backend reusing = new CpuBackend().poisonBuffers(true);
        Backend plain = fresh(new CpuBackend());
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of("configs").resolve(file), cfg);
        if (cfg.model.startsWith("resnet")) {
            cfg.widths = List.of(16, 16, 16); // 16 channels on 32 x 32 planes: the OpenBLAS implicit GEMM too
            cfg.blocks = 2; // blocks of a stage reuse each other's released gradients
        }
        cfg.validate();
        Network a = Models.build(cfg, reusing), b = Models.build(cfg, plain);
        // train, train, evaluate a smaller batch, train again: shapes change and buffers come back
        int[] sizes = {3, 3, 2, 3};
        boolean[] train = {true, true, false, true};
        for (int s = 0; s < sizes.length; s++) {
            Tensor xa = batch(a, reusing, sizes[s], s), xb = batch(b, plain, sizes[s], s);
            assertSame(step(a, xa, train[s]), step(b, xb, train[s]), file + " step " + s + " logits");
            Map<String, Param> pa = a.namedParams(), pb = b.namedParams();
            for (Map.Entry<String, Param> e : pa.entrySet()) {
                assertSame(e.getValue().value, pb.get(e.getKey()).value, file + " step " + s + " " + e.getKey());
            }
        }
    }
}
