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
 * <p>Tolerances, on e = max_i |got_i - ref_i| / (|ref_i| + rms(ref)) per tensor: TF32 keeps 10 mantissa bits, so
 * every convolution input carries a relative rounding error up to 2^-11 = 4.9e-4; a layer's output sums many such
 * products, whose errors partly cancel, and the backward pass goes through every layer twice (activations and
 * gradients) and through batch norm's division by a batch-2 standard deviation, which amplifies relative errors.
 * The bounds are {@value #LOSS_TOL} on the loss and {@value #TOL} on every gradient and on every parameter after
 * the step (observed on the emulation: see the printed line). The test also requires the TF32 gradients to be
 * further from the truth than the CPU's float32 ones (by {@value #COARSER}x): TF32 arithmetic really ran.
 */
class Tf32StepTest {
    static final double LOSS_TOL = 2e-3, TOL = 5e-2, COARSER = 3;

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
            double ev = Steps.error(g.get(k).value, t.get(k).value);
            worstValue = Math.max(worstValue, ev);
            if (!(ev <= TOL)) {
                failures.add(String.format(Locale.ROOT, "%s after the step: error %.2e > %.0e", k, ev, TOL));
            }
            if (t.get(k).trainable) {
                double eg = Steps.error(g.get(k).grad, t.get(k).grad);
                worstGrad = Math.max(worstGrad, eg);
                cpuGrad = Math.max(cpuGrad, Steps.error(c.get(k).grad, t.get(k).grad));
                if (!(eg <= TOL)) {
                    failures.add(String.format(Locale.ROOT, "gradient of %s: error %.2e > %.0e", k, eg, TOL));
                }
            }
        }
        if (!(worstGrad > COARSER * cpuGrad)) {
            failures.add(String.format(Locale.ROOT, "TF32 gradients are %.2e from the float64 truth, not coarser than "
                    + "%.0fx the CPU float32 ones (%.2e): did TF32 run?", worstGrad, COARSER, cpuGrad));
        }
        System.out.printf(Locale.ROOT, "[gpu] resnet32 tf32 step vs float64: loss %.1e, gradients %.1e, parameters "
                + "%.1e; CPU float32 gradients %.1e%n", lossErr, worstGrad, worstValue, cpuGrad);
        be.releaseDevice();
        assertTrue(failures.isEmpty(), String.join("\n  ", failures));
    }
}
