package dev.pdecnn.models;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU backends hand modules their previous output and gradient tensors back ({@link Backend#buffer}). With
 * every such tensor filled with NaN before use, training steps and an evaluation batch of another size must give
 * bit for bit what fresh zero tensors give: every operation writes every element of its outputs, and no module
 * reads a reused tensor of an earlier step.
 */
class BufferReuseTest {
    /** The same backend with fresh zero tensors for every output, as before buffers were reused. */
    private static Backend fresh(Backend be) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, m, args) -> switch (m.getName()) {
                    case "reusesBuffers" -> false;
                    case "buffer" -> Tensor.zeros(be.dtype(), (int[]) args[1]);
                    case "bufferLike" -> ((Tensor) args[1]).zerosLike();
                    default -> {
                        try {
                            yield m.invoke(be, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
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

    /** Forward (and, when training, backward and an SGD step without momentum); returns the logits' copy. */
    private static Tensor step(Network net, Backend be, Tensor x, boolean train) {
        net.train(train);
        net.zeroGrad();
        Tensor logits = net.forward(x);
        Tensor out = logits.copy();
        if (train) {
            int[] y = new int[x.dim(0)];
            for (int i = 0; i < y.length; i++) {
                y[i] = i % 10;
            }
            Tensor g = logits.zerosLike();
            be.softmaxCrossEntropy(logits, y, g, null);
            net.backward(g);
            for (Param p : net.trainableParams()) {
                be.sgdStep(p.value, p.grad, p.grad.zerosLike(), 0.05, 0, 0);
            }
        }
        return out;
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
            "mnist_cnn_c8.yaml", "mnist_residual_c8.yaml", "mnist_pde_const_c8.yaml", "mnist_pde_pm_c8.yaml",
    })
    void reusedBuffersGiveTheSameSteps(String file) {
        Backend reusing = new CpuBackend().poisonBuffers(true);
        Backend plain = fresh(new CpuBackend());
        assertTrue(reusing.reusesBuffers());
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of("configs").resolve(file), cfg);
        if (cfg.model.startsWith("resnet")) {
            cfg.widths = List.of(16, 16, 16); // 16 channels on 32 x 32 planes: the OpenBLAS implicit GEMM too
            cfg.blocks = 2; // blocks of a stage share their gradient tensors
        }
        cfg.validate();
        Network a = Models.build(cfg, reusing), b = Models.build(cfg, plain);
        // train, train, evaluate a smaller batch, train again: shapes change and buffers come back
        int[] sizes = {3, 3, 2, 3};
        boolean[] train = {true, true, false, true};
        for (int s = 0; s < sizes.length; s++) {
            Tensor xa = batch(a, reusing, sizes[s], s), xb = batch(b, plain, sizes[s], s);
            assertSame(step(a, reusing, xa, train[s]), step(b, plain, xb, train[s]), file + " step " + s + " logits");
            Map<String, Param> pa = a.namedParams(), pb = b.namedParams();
            for (Map.Entry<String, Param> e : pa.entrySet()) {
                assertSame(e.getValue().value, pb.get(e.getKey()).value, file + " step " + s + " " + e.getKey());
            }
        }
    }
}
