package dev.pdecnn.bench;

import dev.pdecnn.UserException;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.tensor.DType;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark harness on tiny batches: names, result fields and the Markdown table. */
class BenchTest {
    @Test
    void namesMapToConfigurations() {
        RunConfig pm = Bench.config("pde_pm_c1");
        assertEquals("pde", pm.model);
        assertEquals("perona_malik", pm.diffusivity);
        assertEquals(1, pm.channels);
        RunConfig cnn = Bench.config("mnist_cnn_c8");
        assertEquals("cnn", cnn.model);
        assertEquals(8, cnn.channels);
        assertEquals("resnet32_global", Bench.config("resnet32_global").model);
        assertEquals(Bench.MNIST, Bench.expand(List.of("mnist")));
        assertThrows(UserException.class, () -> Bench.config("vgg16"));
        assertThrows(UserException.class, () -> Bench.run(List.of("pde_c8"), 0, 0, 1, System.out));
    }

    @Test
    void trainStepAndGlobalLayerReportTimes() {
        for (DType dt : DType.values()) {
            Bench.Result r = Bench.trainStep(Bench.config("pde_const_c2"), 4, 1, 3, dt);
            assertEquals("mnist_pde_const_c2", r.name());
            assertTrue(r.minMs() > 0 && r.minMs() <= r.medianMs() && r.medianMs() <= r.p90Ms(), r.toString());
            assertEquals(4 * 1000.0 / r.medianMs(), r.imagesPerSec(), 1e-9);
        }
        Bench.Result g = Bench.globalLayer(2, 3, 8, 8, 2, 1, 2, DType.F32);
        assertTrue(g.medianMs() > 0 && g.peakHeapBytes() > 0, g.toString());
    }

    /**
     * The profile (setting pdecnn.bench.profile) lists the loss of a training step, which the step takes from the
     * backend's device, with the backend's operations.
     */
    @Test
    void profileTimesTheLossOfATrainingStep() {
        Bench.trainStep(Bench.config("cnn_c1"), 2, 0, 2, Profile.wrap(new dev.pdecnn.backend.cpu.CpuBackend()));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Profile.print("cnn_c1", 2, new PrintStream(buf, true, StandardCharsets.UTF_8));
        String profile = buf.toString(StandardCharsets.UTF_8);
        for (String op : List.of("softmaxCrossEntropy", "sgdStep", "dense", "conv2dForward")) {
            assertTrue(profile.lines().anyMatch(l -> l.matches("\\s+[0-9.]+\\s+[0-9.]+\\s+[0-9.]+\\s+" + op + "\\b.*")),
                    op + " in the profile:\n" + profile);
        }
        assertTrue(profile.lines().anyMatch(l -> l.matches(".*\\s1\\.0\\s+softmaxCrossEntropy$")),
                "one loss per step:\n" + profile);
    }

    /**
     * bench --convs: one row per convolution shape of the models, both paths timed where oneDNN loads, and the
     * path the auto rule takes (MNIST's few channels stay built-in; ResNet's 64-channel 4x4 convolutions go to
     * oneDNN).
     */
    @Test
    void convsTimesEveryShapeOnBothPaths() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        assertEquals(0, ConvBench.run(List.of("cnn_c8", "resnet32"), 2, 0, 1,
                new PrintStream(buf, true, StandardCharsets.UTF_8)));
        String out = buf.toString(StandardCharsets.UTF_8);
        List<String> rows = out.lines().filter(l -> l.matches("\\| \\d+x\\d+x\\d+ w.*")).toList();
        // cnn_c8: 1 -> 8 and 8 -> 8; resnet32: the stem, 4 stages of 3x3, the strided 3x3 and 1x1 shortcuts
        assertTrue(rows.size() >= 10, out);
        String mnist = rows.stream().filter(l -> l.startsWith("| 1x28x28 w8x1x3x3 s1 g1 |")).findFirst().orElseThrow();
        assertTrue(mnist.endsWith("| builtin |"), mnist);
        String deep = rows.stream().filter(l -> l.startsWith("| 64x4x4 w64x64x3x3 s1 g1 |")).findFirst().orElseThrow();
        boolean onednn = out.contains("oneDNN 3.");
        assertTrue(deep.endsWith(onednn ? "| onednn |" : "| builtin |"), deep);
        String timed = onednn ? "[0-9.]+ \\| [0-9.]+x" : "- \\| -";
        assertTrue(deep.matches("\\| \\S+ w\\S+ s1 g1 \\| \\d+ \\| [0-9.]+ \\| " + timed + " \\| \\w+ \\|"), deep);
    }

    @Test
    void runPrintsMarkdownTable() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = Bench.run(List.of("cnn_c1", "residual_c1"), 2, 0, 1,
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        assertEquals(0, rc);
        String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
        int header = -1;
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].startsWith("| model |")) {
                header = i;
            }
        }
        assertTrue(header >= 0, String.join("\n", lines));
        assertTrue(lines[header + 1].startsWith("|---|"));
        assertTrue(lines[header + 2].startsWith("| mnist_cnn_c1 | 2 |"), lines[header + 2]);
        assertTrue(lines[header + 3].startsWith("| mnist_residual_c1 | 2 |"), lines[header + 3]);
        assertEquals(8, lines[header + 2].chars().filter(ch -> ch == '|').count() - 1);
    }
}
