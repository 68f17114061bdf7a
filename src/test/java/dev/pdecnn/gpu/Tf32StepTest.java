package dev.pdecnn.gpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.Precision;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One SGD step of resnet32 (its real widths 16, 32, 64; one BasicBlock per stage to keep the emulation quick; batch
 * 4 of random 32x32 images) through the GPU backend with TF32 convolutions and dense layer (the emulated device's
 * WMMA, or a GPU with -Dpdecnn.cuda.runner=jcuda), against the float64 reference step from the same weights.
 *
 * <p>Why the tolerance is wide, and measured in norm: every matrix-product operand carries up to 2^-11 = 4.9e-4
 * relative rounding, so activations are off by about 1e-3 after a few layers, and a ReLU mask flips wherever a
 * pre-activation lies within that of zero. A flipped element moves its gradient by O(1), so a gradient tensor moves
 * by about the square root of the flipped fraction in ||g - g_ref|| / ||g_ref|| (observed 7e-3 to 7.3e-2 per
 * tensor, largest in the first layers; 1e-6 for the CPU's float32), and single elements by O(1) (which is why no
 * element-wise bound is used here). Rounding the reference's operands to TF32 too does not tighten this: float32 and
 * float64 activations then round to neighbouring TF32 values here and there, and those differences grow through the
 * layers to the same level (observed: 4e-5 on the loss, 5e-2 on gradients). The kernels themselves are checked
 * element-wise against a TF32-rounded reference (ConvKernelTest, DenseLossKernelTest).
 *
 * <p>Bounds: the loss within {@value #LOSS_TOL} relative (observed 7e-5), every gradient and every parameter after
 * the step within {@value #TOL} in relative norm (2x the largest observed: a broken tile gives O(1)), and the
 * gradients at least {@value #COARSER}x further from float64 than the CPU's float32 ones (TF32 really ran).
 */
class Tf32StepTest {
    static final double LOSS_TOL = 1e-3, TOL = 0.15, COARSER = 100;

    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();

    private static TrainStepEquivalenceTest.Stepped step(RunConfig cfg, Backend be, Network init, DType dtype) {
        Network net = Models.build(cfg, be);
        Steps.copyWeights(init, net);
        double loss = Steps.sgdStep(net, be, Steps.batch(net, 4, dtype, 11), Steps.labels(4, 3), Steps.velocities(),
                TrainStepEquivalenceTest.LR, TrainStepEquivalenceTest.MOMENTUM, TrainStepEquivalenceTest.WD);
        return new TrainStepEquivalenceTest.Stepped(net, loss);
    }

    @Test
    void resnet32StepInTf32AgreesWithinTf32Precision() {
        org.junit.jupiter.api.Assumptions.assumeTrue(DEVICE.runner().tf32Capable(),
                () -> DEVICE.runner().description() + " runs no TF32 tensor-core kernels");
        RunConfig cfg = Steps.config("cifar10/row1_resnet32.yaml");
        cfg.widths = List.of(16, 32, 64, 64);
        cfg.blocks = 1;
        cfg.validate();
        Network init = Models.build(cfg, new CpuBackend());
        var truth = step(cfg, new ReferenceBackend(), init, DType.F64);
        var cpu = step(cfg, new CpuBackend(), init, DType.F32);
        CudaBackend be = new CudaBackend(DeviceMemory.checked(DEVICE.runner(), 256L << 20), DType.F32,
                CudaBackend.defaultOptions(DEVICE.runner()).withPrecision(Precision.TF32));
        var tf32 = step(cfg, be, init, DType.F32);

        List<String> failures = new ArrayList<>();
        double lossErr = Math.abs(tf32.loss() - truth.loss()) / Math.abs(truth.loss());
        if (!(lossErr <= LOSS_TOL)) {
            failures.add(String.format(Locale.ROOT, "loss %.9g vs %.9g (rel %.2e > %.0e)", tf32.loss(), truth.loss(),
                    lossErr, LOSS_TOL));
        }
        Map<String, Param> t = truth.net().namedParams(), c = cpu.net().namedParams(), g = tf32.net().namedParams();
        double worstGrad = 0, worstValue = 0, cpuGrad = 0;
        for (String k : t.keySet()) {
            double ev = relL2(g.get(k).value, t.get(k).value);
            worstValue = Math.max(worstValue, ev);
            if (!(ev <= TOL)) {
                failures.add(String.format(Locale.ROOT, "%s after the step: relative error %.2e > %.2f", k, ev, TOL));
            }
            if (t.get(k).trainable) {
                double eg = relL2(g.get(k).grad, t.get(k).grad);
                worstGrad = Math.max(worstGrad, eg);
                cpuGrad = Math.max(cpuGrad, relL2(c.get(k).grad, t.get(k).grad));
                if (!(eg <= TOL)) {
                    failures.add(String.format(Locale.ROOT, "gradient of %s: relative error %.2e > %.2f", k, eg, TOL));
                }
            }
        }
        if (!(worstGrad > COARSER * cpuGrad)) {
            failures.add(String.format(Locale.ROOT, "TF32 gradients are %.2e from float64, not %.0fx further than the "
                    + "CPU float32 ones (%.2e): did TF32 run?", worstGrad, COARSER, cpuGrad));
        }
        System.out.printf(Locale.ROOT, "[gpu] resnet32 tf32 step vs float64: loss %.1e, gradients %.1e, parameters "
                + "%.1e (relative norm); CPU float32 gradients %.1e%n", lossErr, worstGrad, worstValue, cpuGrad);
        be.device().releaseDevice();
        assertTrue(failures.isEmpty(), String.join("\n  ", failures));
    }

    /** ||got - ref|| / ||ref|| (Euclidean; 0 when equal). */
    static double relL2(Tensor got, Tensor ref) {
        got.download();
        ref.download();
        double d = 0, r = 0;
        for (int i = 0; i < ref.size(); i++) {
            double e = got.get(i) - ref.get(i);
            d += e * e;
            r += ref.get(i) * ref.get(i);
        }
        return d == 0 ? 0 : Math.sqrt(d / r);
    }
}
