package dev.pdecnn.gpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every model of the study trains through the GPU backend ({@link CudaBackend} on the emulated device: the host
 * build of the same kernel sources nvcc compiles) exactly as on the CPU backend: from the same weights and the
 * same batch, one SGD step (zero gradients, forward, softmax cross-entropy, backward, momentum update with weight
 * decay, lr 0.1) leaves every parameter, gradient and batch-norm running statistic in agreement. The GPU step runs
 * device resident (activations never leave the device; parameters, gradients and velocities are read back lazily
 * when the comparison reads them).
 *
 * <p>Models: the eight MNIST configs (cnn, residual, pde constant-D, pde Perona-Malik; C = 1 and 8) and the eight
 * CIFAR-10 rows of Table 2 (resnet32 and the seven resnet32_global variants), the ResNets at widths 4,4,4,4 with
 * one block per stage so the emulation stays quick; inputs are random, batch 2, 28x28 or 32x32.
 *
 * <p>Tolerances, per tensor, on e = max_i |gpu_i - cpu_i| / (|cpu_i| + rms(cpu)) (the error of sums is relative
 * to their terms, which the RMS stands for):
 * <ul>
 *   <li>float64 (kernels {@code _f64} against {@code ReferenceBackend}): e <= {@value #F64_TOL} for the loss, every
 *       gradient and every parameter after the step: only the order of operations differs, so this proves the
 *       same algorithm (observed: at most 5e-13);</li>
 *   <li>float32 (the training path, against {@code CpuBackend}): loss within 1e-6 (full-size ResNets on a GPU:
 *       1e-5, see {@link #F32_LOSS_TOL}), gradients
 *       and parameters within {@value #F32_TOL} (observed: at most 2.2e-4). Two float32 computations of a deep
 *       network at batch 2 through batch norm differ by their rounding, and the CPU float32 path is itself that
 *       far from the float64 truth; so the test also requires the GPU float32 gradients to be no further from
 *       the float64 truth than {@value #ACCURACY_FACTOR} times the CPU float32 gradients (+1e-5): the GPU path
 *       is as accurate as the CPU path, not merely close to it.</li>
 * </ul>
 */
class TrainStepEquivalenceTest {
    static final double F64_TOL = 1e-10;
    /**
     * 1e-6 at the test size; 1e-5 for the full-size ResNets ({@link Steps#FULL_SIZE}, a GPU run), whose float32
     * losses sum 16x more products per activation through 32 layers (observed on an H200: 1.15e-6 for row 4).
     */
    static final double F32_LOSS_TOL = Steps.FULL_SIZE ? 1e-5 : 1e-6;
    static final double F32_TOL = 1e-3;
    static final double ACCURACY_FACTOR = 4;
    static final double LR = 0.1, MOMENTUM = 0.9, WD = 5e-4;

    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();

    static List<String> configs() {
        return List.of("mnist_cnn_c1.yaml", "mnist_cnn_c8.yaml", "mnist_residual_c1.yaml", "mnist_residual_c8.yaml",
                "mnist_pde_const_c1.yaml", "mnist_pde_const_c8.yaml", "mnist_pde_pm_c1.yaml", "mnist_pde_pm_c8.yaml",
                "cifar10/row1_resnet32.yaml", "cifar10/row2_resnet32_global.yaml",
                "cifar10/row3_velocity_identity_d_constant.yaml", "cifar10/row4_basic_basic.yaml",
                "cifar10/row5_perona_malik.yaml", "cifar10/row6_init_basic.yaml", "cifar10/row7_diffusion.yaml",
                "cifar10/row8_advection.yaml", "cifar10/diffusion_exact_zero.yaml");
    }

    /** The outcome of one step on one backend. */
    record Stepped(Network net, double loss) {
    }

    static Stepped step(RunConfig cfg, Backend be, Network init, DType dtype) {
        Network net = Models.build(cfg, be);
        Steps.copyWeights(init, net);
        Tensor x = Steps.batch(net, 2, dtype, 7);
        double loss = Steps.sgdStep(net, be, x, Steps.labels(2, 8), Steps.velocities(), LR, MOMENTUM, WD);
        return new Stepped(net, loss);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void oneSgdStepAgrees(String file) {
        RunConfig cfg = Steps.config(file);
        Network init = Models.build(cfg, new CpuBackend());
        List<String> failures = new ArrayList<>();

        // float64: the same algorithm
        Stepped cpu64 = step(cfg, new ReferenceBackend(), init, DType.F64);
        Stepped gpu64 = step(cfg, new CudaBackend(DeviceMemory.checked(DEVICE.runner(), 256L << 20), DType.F64), init, DType.F64);
        double w64 = compare("f64", cpu64, gpu64, F64_TOL, F64_TOL, failures);
        gpu64.net().backend().device().releaseDevice(); // device lifetimes are explicit: done with this network

        // float32: the training path
        Stepped cpu32 = step(cfg, new CpuBackend(), init, DType.F32);
        CudaBackend gpu = new CudaBackend(DeviceMemory.checked(DEVICE.runner(), 256L << 20), DType.F32);
        Stepped gpu32 = step(cfg, gpu, init, DType.F32);
        double w32 = compare("f32", cpu32, gpu32, F32_LOSS_TOL, F32_TOL, failures);

        double cpuErr = 0, gpuErr = 0;
        Map<String, Param> truth = cpu64.net().namedParams(), c = cpu32.net().namedParams(), g = gpu32.net().namedParams();
        for (String k : truth.keySet()) {
            if (truth.get(k).trainable) {
                cpuErr = Math.max(cpuErr, Steps.error(c.get(k).grad, truth.get(k).grad));
                gpuErr = Math.max(gpuErr, Steps.error(g.get(k).grad, truth.get(k).grad));
            }
        }
        if (gpuErr > ACCURACY_FACTOR * cpuErr + 1e-5) {
            failures.add(String.format(Locale.ROOT, "GPU float32 gradients are %.2e from the float64 truth, the CPU's "
                    + "%.2e: more than %.0fx", gpuErr, cpuErr, ACCURACY_FACTOR));
        }
        System.out.printf(Locale.ROOT, "[gpu] %-48s worst f64 %.1e, f32 %.1e; f32 grads vs f64 truth: gpu %.1e cpu %.1e%n",
                file, w64, w32, gpuErr, cpuErr);
        assertTrue(failures.isEmpty(), file + ":\n  " + String.join("\n  ", failures));
        gpu.device().releaseDevice();
        assertEquals(0, gpu.device().memory().inUse(), "device memory in use after releaseDevice");
    }

    /** Compares loss, gradients and parameters (buffers included); returns the worst error. */
    private static double compare(String tag, Stepped ref, Stepped got, double lossTol, double tol, List<String> failures) {
        double worst = Math.abs(got.loss() - ref.loss()) / Math.abs(ref.loss());
        if (!(worst <= lossTol)) {
            failures.add(String.format(Locale.ROOT, "%s loss %.9g vs %.9g (rel %.2e > %.0e)", tag, got.loss(), ref.loss(),
                    worst, lossTol));
        }
        Map<String, Param> a = ref.net().namedParams(), b = got.net().namedParams();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            double ev = Steps.error(b.get(k).value, a.get(k).value);
            worst = Math.max(worst, ev);
            if (!(ev <= tol)) {
                failures.add(String.format(Locale.ROOT, "%s %s after the step: error %.2e > %.0e", tag, k, ev, tol));
            }
            if (a.get(k).trainable) {
                double eg = Steps.error(b.get(k).grad, a.get(k).grad);
                worst = Math.max(worst, eg);
                if (!(eg <= tol)) {
                    failures.add(String.format(Locale.ROOT, "%s gradient of %s: error %.2e > %.0e", tag, k, eg, tol));
                }
            }
        }
        return worst;
    }

    /** The pool (the GPU's memory) and the checked budget give bit-identical steps: placement changes nothing. */
    @Test
    void poolAndCheckedMemoryGiveIdenticalSteps() {
        RunConfig cfg = Steps.config("cifar10/row2_resnet32_global.yaml");
        Network init = Models.build(cfg, new CpuBackend());
        try (DeviceMemory pool = DeviceMemory.pool(DEVICE.runner(), 64L << 20)) {
            CudaBackend pooled = new CudaBackend(pool, DType.F32);
            Stepped a = step(cfg, pooled, init, DType.F32);
            Stepped b = step(cfg, new CudaBackend(DeviceMemory.checked(DEVICE.runner(), 64L << 20), DType.F32), init, DType.F32);
            assertEquals(a.loss(), b.loss());
            Map<String, Param> pa = a.net().namedParams(), pb = b.net().namedParams();
            for (String k : pa.keySet()) {
                assertArrayEquals(pa.get(k).value.download().copy().f32(), pb.get(k).value.download().copy().f32(), k);
            }
            pooled.device().releaseDevice();
            b.net().backend().device().releaseDevice();
            assertEquals(0, pool.inUse());
            assertTrue(pool.peak() > 0 && pool.peak() < 64L << 20, pool.summary());
        }
    }
}
