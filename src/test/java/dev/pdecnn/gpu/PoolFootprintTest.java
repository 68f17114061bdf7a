package dev.pdecnn.gpu;

import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.CudaSession;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How much of the pool device-resident training needs at the study's sizes, without running a kernel: a runner
 * that hands out addresses and ignores copies and launches ({@link DeviceMemoryTest.FakeRunner}) lets {@link CudaBackend} make every allocation of
 * training steps and of a test batch of 256 (the Trainer's evaluation batch, whose buffers stay cached): the
 * full-width CIFAR-10 models at batch 128 must fit the default GPU pool ({@value CudaSession#GPU_DEFAULT_POOL_MIB}
 * MiB), the MNIST models at the default batch of 32 the emulated device's default pool
 * ({@value CudaSession#EMULATED_DEFAULT_POOL_MIB} MiB); the second step must take no block from the pool.
 */
class PoolFootprintTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cifar10/row1_resnet32.yaml", "cifar10/row2_resnet32_global.yaml",
            "cifar10/row4_basic_basic.yaml", "cifar10/row6_init_basic.yaml", "mnist_residual_c8.yaml",
            "mnist_pde_pm_c8.yaml"})
    void theDefaultPoolHoldsTheSteps(String file) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of("configs").resolve(file), cfg);
        cfg.validate();
        boolean cifar = file.startsWith("cifar10/");
        int batch = cifar ? 128 : cfg.batchSize;
        long capacity = (cifar ? CudaSession.GPU_DEFAULT_POOL_MIB : CudaSession.EMULATED_DEFAULT_POOL_MIB) << 20;
        try (DeviceMemory pool = DeviceMemory.pool(new DeviceMemoryTest.FakeRunner(), capacity)) {
            CudaBackend be = new CudaBackend(pool, DType.F32);
            Network net = Models.build(cfg, be);
            Map<String, Tensor> vel = Steps.velocities();
            int[] y = new int[batch];
            Steps.sgdStep(net, be, Steps.batch(net, batch, DType.F32, 1), y, vel, 0.1, 0.9, 5e-4);
            long afterFirst = pool.allocations(), stepPeak = pool.peak();
            Steps.sgdStep(net, be, Steps.batch(net, batch, DType.F32, 2), y, vel, 0.1, 0.9, 5e-4);
            assertEquals(afterFirst, pool.allocations(), "the second step takes no block from the pool");
            net.train(false);
            int[] y256 = new int[256];
            be.softmaxCrossEntropy(net.forward(Steps.batch(net, 256, DType.F32, 3)), y256, null, new int[256]);
            net.train(true);
            Steps.sgdStep(net, be, Steps.batch(net, batch, DType.F32, 4), y, vel, 0.1, 0.9, 5e-4);
            long peak = pool.peak();
            System.out.printf(Locale.ROOT, "[gpu] %-36s a training step at batch %d needs %s of the pool (parameters, "
                            + "gradients, velocities, one step's activations); with the cached evaluation batch of 256, "
                            + "%s of %s%n", file, batch, DeviceMemory.bytes(stepPeak), DeviceMemory.bytes(peak),
                    DeviceMemory.bytes(capacity));
            assertTrue(peak < capacity, pool.summary());
        }
    }
}
