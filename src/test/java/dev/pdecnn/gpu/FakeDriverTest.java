package dev.pdecnn.gpu;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A machine with the NVIDIA driver's library but no GPU (Debian's CUDA toolkit installs libcuda1; a container
 * started without --gpus can hold it too): a stand-in libcuda.so.1, compiled here, whose cuInit answers
 * CUDA_ERROR_NO_DEVICE, or whose cuInit succeeds and which counts 0 devices, is found first on LD_LIBRARY_PATH by
 * a trainer started in a child JVM. {@code devices} answers cleanly (exit 0, the reason on one line), and
 * {@code devices --check} and {@code --device 0} fail with one line and exit 2; no stack trace either way.
 * Without a C compiler the test is skipped, unless PDECNN_REQUIRE_HOST_KERNELS is set (CI).
 */
class FakeDriverTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "cuInit {0}")
    @CsvSource({"100, the NVIDIA driver is present but cuInit failed: CUDA cuInit: CUDA_ERROR_NO_DEVICE",
            "0, the CUDA driver reports no GPU"})
    void driverWithoutGpuIsACleanAnswer(int cuInit, String reason) throws Exception {
        Path lib = fakeDriver(cuInit);
        Result d = trainer(lib, "devices");
        assertEquals(0, d.code, d.out);
        assertTrue(d.out.lines().anyMatch(l -> l.equals("no CUDA GPU: " + reason)), d.out);
        Result check = trainer(lib, "devices", "--check");
        assertEquals(2, check.code, check.out);
        assertTrue(check.out.strip().lines().anyMatch(l -> l.startsWith("error: --device 0: ")), check.out);
        Path data = dev.pdecnn.train.SyntheticMnist.write(tmp.resolve("data"), 64, 32, 3);
        Result train = trainer(lib, "--device", "0", "--model", "cnn", "--epochs", "1", "--data-dir", data.toString(),
                "--out", tmp.resolve("runs").toString());
        assertEquals(2, train.code, train.out);
        for (Result r : List.of(d, check, train)) {
            assertFalse(r.out.contains("\tat ") || r.out.contains("Exception in thread"), "no stack trace:\n" + r.out);
        }
    }

    /** A libcuda.so.1 with the three calls the probe makes; the others stay unresolved (lazy binding). */
    private Path fakeDriver(int cuInit) throws Exception {
        Path src = tmp.resolve("fake.c"), dir = Files.createDirectories(tmp.resolve("lib"));
        Files.writeString(src, "int cuInit(unsigned int f) { return " + cuInit + "; }\n"
                + "int cuDriverGetVersion(int *v) { *v = 12080; return 0; }\n"
                + "int cuDeviceGetCount(int *n) { *n = 0; return 0; }\n");
        List<String> cc = List.of("cc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o",
                dir.resolve("libcuda.so.1").toString(), src.toString());
        int rc;
        try {
            Process p = new ProcessBuilder(cc).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            rc = p.waitFor();
        } catch (IOException e) {
            rc = -1;
        }
        if (rc != 0 && Emulated.REQUIRED) {
            throw new AssertionError("PDECNN_REQUIRE_HOST_KERNELS is set but cc could not build the stand-in driver");
        }
        Assumptions.assumeTrue(rc == 0, "no C compiler (cc) for the stand-in libcuda.so.1");
        return dir;
    }

    record Result(int code, String out) {
    }

    private static Result trainer(Path lib, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "dev.pdecnn.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("LD_LIBRARY_PATH", lib.toString());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the trainer did not end");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
