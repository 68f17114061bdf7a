package dev.pdecnn.train;

import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.io.Safetensors;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code -Dpdecnn.trace=FILE}: one CSV row per step with loss, gradient norms and the PDE block's D, u and
 * output statistics, and a traced run trains exactly as an untraced one (its probe pass restores the BN
 * statistics it moved).
 */
class StepTraceTest {
    @Test
    void traceHasOneRowPerStepAndChangesNothing(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 64, 16, 3);
        Path trace = tmp.resolve("trace.csv");
        String[] common = {"--model", "pde", "--channels", "1", "--diffusivity", "perona_malik", "--batch-size", "16",
                "--epochs", "1", "--data-dir", data.toString(), "--out", tmp.toString(), "--seed", "2"};
        System.setProperty(StepTrace.PROPERTY, trace.toString());
        CliRunner.Result traced;
        try {
            traced = CliRunner.run(concat(common, "--name", "traced"));
        } finally {
            System.clearProperty(StepTrace.PROPERTY);
        }
        assertEquals(0, traced.code(), traced.err());
        CliRunner.Result plain = CliRunner.run(concat(common, "--name", "plain"));
        assertEquals(0, plain.code(), plain.err());

        List<String> lines = Files.readAllLines(trace);
        assertEquals(1 + 4, lines.size(), "header and 64 / 16 steps"); // 64 images in batches of 16
        List<String> header = Arrays.asList(lines.get(0).split(","));
        for (String col : List.of("step", "loss", "grad_norm", "grad:block.conv.weight", "mean:block.bn_out.bias",
                "D_mean", "D_min", "u_std", "courant_max", "out_active")) {
            assertTrue(header.contains(col), col + " in " + header);
        }
        String[] last = lines.get(4).split(",");
        assertEquals(4, Double.parseDouble(last[header.indexOf("step")]));
        double dMean = Double.parseDouble(last[header.indexOf("D_mean")]);
        assertTrue(dMean > 0 && dMean <= 1, "Perona-Malik D in (0, 1]: " + dMean);

        Map<String, Tensor> a = Safetensors.read(tmp.resolve("traced/last.safetensors")).tensors();
        Map<String, Tensor> b = Safetensors.read(tmp.resolve("plain/last.safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k).f32(), b.get(k).f32(), k); // BN running statistics included
        }
    }

    @Test
    void unwritableTraceFileIsOneLineError(@TempDir Path tmp) throws Exception {
        Path data = SyntheticMnist.write(tmp.resolve("data"), 32, 16, 3);
        System.setProperty(StepTrace.PROPERTY, tmp.resolve("no/such/folder/trace.csv").toString());
        CliRunner.Result r;
        try {
            r = CliRunner.run("--model", "pde", "--channels", "1", "--batch-size", "16", "--epochs", "1",
                    "--data-dir", data.toString(), "--out", tmp.toString(), "--name", "x");
        } finally {
            System.clearProperty(StepTrace.PROPERTY);
        }
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("-Dpdecnn.trace=") && r.err().strip().lines().count() == 1, r.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
