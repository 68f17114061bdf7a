package dev.pdecnn.gpu;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.cuda.GpuInfo;
import dev.pdecnn.backend.cuda.Gpus;
import dev.pdecnn.backend.cuda.KernelException;
import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.run.Devices;
import dev.pdecnn.train.SyntheticMnist;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * --device through the CLI: cpu, auto, N, emulated, the devices command, and every device error as one line with
 * a non-zero exit. The no-GPU cases run where no GPU is usable (no driver, or a driver without a GPU) and expect
 * whatever reason the probe gives; on a GPU machine they check the GPU-number error instead.
 */
class DeviceCliTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws Exception {
        data = SyntheticMnist.write(tmp.resolve("data"), 64, 32, 3);
    }

    private static String[] tiny(String name, String... extra) {
        String[] base = {"--model", "cnn", "--channels", "2", "--batch-size", "16", "--epochs", "2", "--lr", "0.05",
                "--data-dir", data.toString(), "--out", tmp.resolve("runs").toString(), "--name", name};
        String[] r = Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, r, base.length, extra.length);
        return r;
    }

    private static CliRunner.Result fails(int code, String mustMention, String... args) {
        CliRunner.Result r = CliRunner.run(args);
        assertEquals(code, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        assertTrue(r.err().contains(mustMention), "error should mention '" + mustMention + "': " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one-line error: " + r.err());
        return r;
    }

    /**
     * Why this machine has no usable GPU, as the trainer words it (no driver, a driver that fails cuInit, JCuda
     * missing, or a driver with no GPU), or null when GPU 0 can be used. The tests expect exactly this reason, so
     * they hold on machines without a driver and on those with libcuda installed but no GPU alike.
     */
    static String noGpuReason() {
        GpuInfo.Probe p = Gpus.probe();
        return p.reason() != null ? p.reason() : p.gpus().isEmpty() ? p.gpuList() : null;
    }

    static boolean noDriver() {
        return Gpus.probe().reason() != null;
    }

    @Test
    void gpuNumberWithoutDriverFailsWithOneLineNamingTheProblem() {
        if (noDriver()) {
            String why = Gpus.probe().reason();
            assertFalse(why.isBlank() || why.contains("\n"), "one clear line: " + why);
            CliRunner.Result r = fails(2, "--device 0: " + why, tiny("d0", "--device", "0"));
            assertTrue(r.err().contains("use --device cpu"), r.err());
            fails(2, "--device 1: " + why, tiny("d1", "--device", "1"));
            assertFalse(Files.exists(tmp.resolve("runs/d0")), "nothing written for a run that cannot start");
        } else {
            fails(2, "no GPU 99", tiny("d99", "--device", "99"));
        }
    }

    @Test
    void malformedDevicesAreRejected() {
        fails(2, "--device 'gpu0': expected cpu, auto, a GPU number (0, 1, ...) or emulated", tiny("bad", "--device", "gpu0"));
        fails(2, "--device -1: GPU numbers start at 0", tiny("neg", "--device", "-1"));
    }

    @Test
    void autoFallsBackToTheCpuWithANotice() {
        String why = noGpuReason();
        Assumptions.assumeTrue(why != null, "a usable GPU is present: auto would use it");
        CliRunner.Result r = CliRunner.run(tiny("auto", "--device", "auto"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.equals("note: --device auto: no usable GPU (" + why
                + "); training on the CPU")), r.out());
        assertTrue(r.out().contains("done: mnist_cnn_c2"), r.out());
    }

    @Test
    void devicesCommandListsWhatThereIs() {
        CliRunner.Result r = CliRunner.run("devices");
        assertEquals(0, r.code(), r.err());
        String o = r.out();
        assertTrue(o.startsWith("JCuda 11.7.0 (CUDA driver API)\n"), o);
        String why = noGpuReason();
        if (why != null) {
            assertTrue(o.lines().anyMatch(l -> l.equals("no CUDA GPU: " + why)), o);
        } else {
            assertTrue(o.contains("driver: CUDA ") && o.contains("GPU 0: "), o);
        }
        for (String lib : List.of("cuBLAS 11 libcublas.so.11", "cuDNN 8   libcudnn.so.8", "cuRAND 10 libcurand.so.10")) {
            assertTrue(o.contains("  " + lib), lib + " in\n" + o);
        }
        assertTrue(o.contains("kernels: 7 modules (batchnorm, conv, dense, elementwise, loss, pde, "
                + "perona_malik)"), o);
        assertTrue(o.contains("emulated device (--device emulated, for tests): kernel sources at "), o);
    }

    /**
     * The whole GPU path end to end: the CLI trains two epochs through CudaBackend on the emulated device, and its
     * metrics match the CPU run of the same config (float32 both; tolerance for the sums' rounding).
     */
    @Test
    void emulatedDeviceTrainsLikeTheCpu() throws Exception {
        Emulated.executable();
        CliRunner.Result gpu = CliRunner.run(tiny("emu", "--device", "emulated"));
        assertEquals(0, gpu.code(), gpu.err());
        assertTrue(gpu.out().lines().anyMatch(l -> l.startsWith("device: emulated device (host build of the CUDA kernels), "
                + "device memory pool 256 MiB") && l.endsWith(", precision fp32")), gpu.out());
        assertTrue(gpu.out().contains("note: every operation runs on the trainer's own CUDA kernels"), gpu.out());
        CliRunner.Result cpu = CliRunner.run(tiny("cpu", "--device", "cpu"));
        assertEquals(0, cpu.code(), cpu.err());
        assertFalse(cpu.out().contains("device:"), "the CPU path prints nothing about devices: " + cpu.out());
        List<String> g = Files.readAllLines(tmp.resolve("runs/emu/metrics.csv")),
                c = Files.readAllLines(tmp.resolve("runs/cpu/metrics.csv"));
        assertEquals(3, g.size(), "header + 2 epochs");
        for (int i = 1; i < g.size(); i++) {
            String[] a = g.get(i).split(","), b = c.get(i).split(",");
            for (int col : new int[]{1, 3}) { // train loss, test loss
                double x = Double.parseDouble(a[col]), y = Double.parseDouble(b[col]);
                assertEquals(y, x, 1e-4 * Math.abs(y), "epoch " + i + " column " + col + ": " + g.get(i) + " vs " + c.get(i));
            }
            for (int col : new int[]{2, 4}) { // accuracies: at most one prediction may flip on a near-tie
                double x = Double.parseDouble(a[col]), y = Double.parseDouble(b[col]);
                assertEquals(y, x, 1.0 / 32 + 1e-9, "epoch " + i + " column " + col);
            }
        }
    }

    /**
     * --precision: the emulated device runs fp32 by default and the emulated tensor cores when asked, and says which
     * in its device line; a bad value is one line with exit 2; the CPU notes that it ignores tf32.
     */
    @Test
    void precisionOption() throws Exception {
        Emulated.executable();
        CliRunner.Result tf = CliRunner.run(tiny("emu-tf32", "--device", "emulated", "--precision", "tf32"));
        assertEquals(0, tf.code(), tf.err());
        assertTrue(tf.out().lines().anyMatch(l -> l.startsWith("device: emulated device")
                && l.endsWith(", precision tf32 convolutions and dense layer")), tf.out());
        assertTrue(Files.readString(tmp.resolve("runs/emu-tf32/config.json")).contains("\"precision\": \"tf32\""));
        List<String> m = Files.readAllLines(tmp.resolve("runs/emu-tf32/metrics.csv"));
        assertEquals(3, m.size(), "header + 2 epochs");
        assertTrue(Double.isFinite(Double.parseDouble(m.get(2).split(",")[1])), m.get(2));
        fails(2, "--precision: key 'precision' has value 'fp16'; allowed: [tf32, fp32]",
                tiny("bad", "--device", "emulated", "--precision", "fp16"));
        CliRunner.Result cpu = CliRunner.run(tiny("cpu-tf32", "--device", "cpu", "--precision", "tf32"));
        assertEquals(0, cpu.code(), cpu.err());
        assertTrue(cpu.out().contains("note: --precision tf32 applies to GPU convolutions; the CPU computes in fp32"),
                cpu.out());
    }

    /** `bench --device emulated` times steps on the GPU backend and reports the device pool it used. */
    @Test
    void benchRunsOnTheDevice() {
        Emulated.executable();
        CliRunner.Result r = CliRunner.run("bench", "--device", "emulated", "--batch", "2", "--warmup", "0", "--reps",
                "2", "pde_const_c1", "global");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("float32, emulated device (host build of the CUDA kernels)"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("| mnist_pde_const_c1 | 2 | ")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("| global 2x16x32x32 K=5 | 2 | ")), r.out());
        // each benchmark gives its buffers back before the next (explicit device lifetimes): nothing left in use
        assertTrue(r.out().matches("(?s).*device memory \\(all benchmarks above, one pool\\): 0 B in use, "
                + "peak [0-9.]+ [KM]iB of 256 MiB \\(pool\\).*"), r.out());
        fails(2, "--device 'gpu0': expected cpu, auto, a GPU number", "bench", "--device", "gpu0", "global");
    }

    @Test
    void outOfDeviceMemoryNamesTheTensorTheBytesAndTheFreeMemory() {
        Emulated.executable();
        System.setProperty("pdecnn.gpu.pool", "64k");
        try {
            CliRunner.Result r = fails(4, "--device emulated: out of device memory: tensor ", tiny("oom", "--device",
                    "emulated"));
            assertTrue(r.err().matches("(?s).*tensor \\w+ \\[16, \\d+, 28, 28] of \\w+\\(.*\\) F32 needs [0-9.]+ KiB "
                    + "\\([0-9,]+ bytes\\), [0-9.]+ KiB free of the 64.0 KiB pool on host emulation.*"), r.err());
            assertTrue(r.err().contains("lower --batch-size, or enlarge the pool with PDECNN_GPU_POOL"), r.err());
        } finally {
            System.clearProperty("pdecnn.gpu.pool");
        }
    }

    @Test
    void badPoolSettingIsAUserError() {
        Emulated.executable();
        System.setProperty("pdecnn.gpu.pool", "lots");
        try {
            fails(2, "--device emulated: -Dpdecnn.gpu.pool: not a size: 'lots' (examples: 512m, 6g)",
                    tiny("pool", "--device", "emulated"));
        } finally {
            System.clearProperty("pdecnn.gpu.pool");
        }
    }

    @Test
    void kernelFailuresBecomeOneLineWithExitCode4() {
        UserException e = assertThrows(UserException.class, () -> Devices.guard("0", () -> {
            throw new KernelException("kernel relu_f32 failed in relu(x [2, 4], y [2, 4]) F32\nCUDA_ERROR_ILLEGAL_ADDRESS");
        }));
        assertEquals(4, e.exitCode());
        assertEquals("--device 0: GPU failure: kernel relu_f32 failed in relu(x [2, 4], y [2, 4]) F32 | "
                + "CUDA_ERROR_ILLEGAL_ADDRESS", e.getMessage());
    }
}
