package dev.pdecnn.report;

import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every shipped study config finds its own published row, and only that one. */
class PublishedTest {
    private static Published match(String file) {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Path.of(file), cfg);
        cfg.validate();
        return Published.match(ModelIdentity.of(cfg)).orElseThrow(() -> new AssertionError(file + " matches no row"));
    }

    @Test
    void table2ConfigsMatchTheirRows() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("configs/cifar10"))) {
            List<Path> rows = s.filter(p -> p.getFileName().toString().matches("row\\d_.*\\.yaml")).sorted().toList();
            assertEquals(8, rows.size());
            for (Path p : rows) {
                String row = p.getFileName().toString().substring(3, 4);
                Published pub = match(p.toString());
                assertEquals(2, pub.table(), p.toString());
                assertEquals(row, pub.row(), p.toString());
            }
        }
        // Spot values against SPEC.md section 2.
        assertEquals(0.9392, match("configs/cifar10/row1_resnet32.yaml").acc(), 1e-12);
        assertEquals(0.8979, match("configs/cifar10/row5_perona_malik.yaml").acc(), 1e-12);
        assertEquals(0.9021, match("configs/cifar10/row8_advection.yaml").acc(), 1e-12);
    }

    /** Issue 25: the study's 90.06% is row 7 as it ran it (velocity networks fed zeros), not u = v = 0. */
    @Test
    void row7IsTheStudysDiffusionEquation() {
        Published row7 = match("configs/cifar10/row7_diffusion.yaml");
        assertEquals("7", row7.row());
        assertEquals("zero_input dwconv", row7.id().velocity());
        assertEquals(0.9006, row7.acc(), 1e-12);
        RunConfig exact = new RunConfig();
        ConfigFiles.apply(Path.of("configs/cifar10/diffusion_exact_zero.yaml"), exact);
        exact.validate();
        assertEquals("zero", ModelIdentity.of(exact).velocity());
        assertFalse(Published.match(ModelIdentity.of(exact)).isPresent());
    }

    @Test
    void table1ConfigsMatchTheirModels() {
        Map<String, Double> expected = Map.of("cnn_c1", 0.6459, "residual_c1", 0.6604, "pde_const_c1", 0.6531,
                "pde_pm_c1", 0.6624, "cnn_c8", 0.9302, "residual_c8", 0.9558, "pde_const_c8", 0.958, "pde_pm_c8", 0.952);
        expected.forEach((m, acc) -> {
            Published p = match("configs/mnist_" + m + ".yaml");
            assertEquals(1, p.table(), m);
            assertEquals(acc, p.acc(), 1e-12, m);
        });
        // Same model, another data option (no flip): still the model's row, as documented.
        assertEquals("pde constant D C=8", match("configs/mnist_pde_const_c8_noflip.yaml").row());
    }

    @Test
    void otherOptionsMatchNothing() {
        RunConfig cfg = new RunConfig();
        cfg.model = "resnet32_global";
        cfg.velocityNet = "pwconv";
        cfg.validate();
        assertFalse(Published.match(ModelIdentity.of(cfg)).isPresent());
        cfg = new RunConfig();
        cfg.model = "pde";
        cfg.channels = 8;
        cfg.diffusivityConstant = 0.5; // the study's constant-D block has D = 1
        cfg.validate();
        assertFalse(Published.match(ModelIdentity.of(cfg)).isPresent());
        cfg.channels = 4; // a width the study did not run
        cfg.diffusivityConstant = 1;
        assertFalse(Published.match(ModelIdentity.of(cfg)).isPresent());
        assertTrue(Published.all().size() == 16 && Published.all().get(0).row().equals("1")
                && Published.all().get(8).row().equals("cnn C=1"), "Table 2 first, then Table 1");
    }
}
