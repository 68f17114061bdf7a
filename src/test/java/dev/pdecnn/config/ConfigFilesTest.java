package dev.pdecnn.config;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.models.Models;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigFilesTest {
    @Test
    void everyShippedConfigLoadsValidatesAndBuilds() throws Exception {
        List<Path> files;
        try (Stream<Path> s = Files.walk(Path.of("configs"))) {
            // configs/sweeps holds sweep files (grids of these configs), checked by SweepFileTest
            files = s.filter(p -> p.toString().endsWith(".yaml") && !p.startsWith(Path.of("configs", "sweeps")))
                    .sorted().toList();
        }
        assertFalse(files.isEmpty());
        for (Path f : files) {
            RunConfig cfg = new RunConfig();
            ConfigFiles.apply(f, cfg);
            cfg.validate();
            assertTrue(Models.build(cfg, new CpuBackend()).macs() > 0, f.toString());
        }
    }

    @Test
    void fileValuesAreTypedAndRangeChecked(@TempDir Path tmp) throws Exception {
        RunConfig cfg = new RunConfig();
        ConfigFiles.apply(Files.writeString(tmp.resolve("a.yaml"), "model: residual\nchannels: 3\nlr: 0.5\n"
                + "hflip: false\nglobal_after: [1, 2]\nseed: 12345678901\n"), cfg);
        assertEquals("residual", cfg.model);
        assertEquals(3, cfg.channels);
        assertEquals(0.5, cfg.lr);
        assertFalse(cfg.hflip);
        assertEquals(List.of(1, 2), cfg.globalAfter);
        assertEquals(12345678901L, cfg.seed);
        UserException e = assertThrows(UserException.class, () -> ConfigFiles.apply(
                Files.writeString(tmp.resolve("b.yaml"), "lr: -1\n"), new RunConfig()));
        assertTrue(e.getMessage().contains("b.yaml") && e.getMessage().contains("'lr'"), e.getMessage());
        e = assertThrows(UserException.class, () -> ConfigFiles.apply(
                Files.writeString(tmp.resolve("c.yaml"), "- just\n- a list\n"), new RunConfig()));
        assertTrue(e.getMessage().contains("mapping"), e.getMessage());
        e = assertThrows(UserException.class, () -> ConfigFiles.apply(
                Files.writeString(tmp.resolve("d.yaml"), "velocity_net: mlp\n"), new RunConfig()));
        assertTrue(e.getMessage().contains("[identity, dwconv, conv, pwconv, basic]"), e.getMessage());
    }

    @Test
    void effectiveConfigRoundTripsThroughJson() {
        RunConfig cfg = new RunConfig();
        cfg.set("model", "resnet32_global", "test");
        cfg.validate();
        RunConfig copy = cfg.copy();
        assertEquals(cfg.toMap(), copy.toMap());
        assertEquals(List.of(1, 2, 3), copy.globalAfter);
        assertEquals("cifar10", copy.dataset);
    }
}
