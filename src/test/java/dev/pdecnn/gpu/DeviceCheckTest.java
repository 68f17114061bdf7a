package dev.pdecnn.gpu;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.selfcheck.DeviceCheck;
import dev.pdecnn.selfcheck.DeviceCheck.Section;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code devices --check}: on the emulated device every check passes and every kernel family, the training steps,
 * graph replay and TF32 are among them; on a device whose batch-norm kernels compute nothing, or whose PDE kernels
 * fault, exactly those checks (and the steps through them) fail, the others still pass, and the verdict is FAIL.
 */
class DeviceCheckTest {
    @RegisterExtension
    static final Emulated.PerClass DEVICE = new Emulated.PerClass();

    @Test
    void emulatedDevicePassesEveryCheck() {
        Emulated.executable();
        CliRunner.Result r = CliRunner.run("devices", "--check", "--device", "emulated");
        assertEquals(0, r.code(), r.out() + r.err());
        String o = r.out();
        assertTrue(o.lines().anyMatch(l -> l.startsWith("verdict: PASS: ")), o);
        for (String family : List.of("conv 3x3 s1 16->16 gemm f32", "conv depthwise 3x3 s2 direct f64",
                "batch norm train/eval/backward f32", "batch norm + relu fused f64", "relu, add, add+relu, avg pool f32",
                "dense, softmax cross-entropy f32", "sgd momentum + weight decay, sum of squares f32",
                "pde 1x1x40x36 K=5 learned v, learned D f32", "pde per-step kernels", "perona-malik diffusivity",
                "step resnet32 (row 1, plain) f32", "step resnet32_global (row 2, condensed) f64",
                "step resnet32_global perona-malik (row 5) f32", "graph replay row 2", "conv 3x3 s1 64->64 8x8 tf32",
                "dense tf32")) {
            assertTrue(o.lines().anyMatch(l -> l.startsWith("  ok    " + family)), family + " in\n" + o);
        }
        assertFalse(o.contains("FAIL"), o);
    }

    @Test
    void kernelsThatComputeNothingFailTheirChecks() {
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        rt.skipped = k -> k.startsWith("bn_");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DeviceCheck c = new DeviceCheck(rt, new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertFalse(c.run(EnumSet.of(Section.KERNELS, Section.STEPS)));
        String o = buf.toString(StandardCharsets.UTF_8);
        for (DeviceCheck.Result res : c.results()) {
            boolean bn = res.name().startsWith("batch norm") || res.name().startsWith("step");
            assertEquals(!bn, res.ok(), res + "\n" + o);
        }
        assertTrue(o.lines().anyMatch(l -> l.startsWith("  FAIL  batch norm train/eval/backward f32")), o);
        assertTrue(o.lines().anyMatch(l -> l.startsWith("verdict: FAIL: 10 of ")), o);
    }

    @Test
    void aFaultingKernelFailsItsCheckAndTheOthersRun() {
        CountingRunner rt = new CountingRunner(DEVICE.runner());
        rt.failing = k -> k.startsWith("pde_");
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        DeviceCheck c = new DeviceCheck(rt, new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertFalse(c.run(EnumSet.of(Section.KERNELS)));
        String o = buf.toString(StandardCharsets.UTF_8);
        assertTrue(o.contains("KernelException: kernel pde_forward_fused_f32 failed in pdeForward("), o);
        long failed = c.results().stream().filter(res -> !res.ok()).count();
        assertEquals(10, failed, o); // the five PDE checks of each dtype
        assertTrue(c.results().stream().filter(res -> !res.ok()).allMatch(res -> res.name().startsWith("pde")), o);
    }

    @Test
    void checkNeedsAGpuOrTheEmulation() {
        CliRunner.Result cpu = CliRunner.run("devices", "--check", "--device", "cpu");
        assertEquals(2, cpu.code(), cpu.out() + cpu.err());
        assertEquals(1, cpu.err().strip().lines().count(), cpu.err());
        assertTrue(cpu.err().contains("name a GPU number"), cpu.err());
        CliRunner.Result noCheck = CliRunner.run("devices", "--device", "0");
        assertEquals(2, noCheck.code(), noCheck.out() + noCheck.err());
        assertTrue(noCheck.err().contains("--device applies to --check only"), noCheck.err());
        if (DeviceCliTest.noGpuReason() != null) { // no usable GPU here: GPU 0 cannot be opened, one line, exit 2
            CliRunner.Result gpu = CliRunner.run("devices", "--check");
            assertEquals(2, gpu.code(), gpu.out() + gpu.err());
            assertEquals(1, gpu.err().strip().lines().count(), gpu.err());
            assertTrue(gpu.err().startsWith("error: --device 0: "), gpu.err());
        }
    }
}
