package dev.pdecnn.cli;

import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parameter and MAC counts of docs/design.md §2 (the study's Tables 1 and 2), pinned exactly. */
class OpsCountsTest {
    /**
     * Counts of the shape-only network (what ops and report use), checked against the network that trains: the
     * same parameter names and shapes in the same order, the same counts.
     */
    private static OpsCommand.Counts count(String... kv) {
        RunConfig cfg = new RunConfig();
        for (int i = 0; i < kv.length; i += 2) {
            cfg.set(kv[i], kv[i + 1], "test");
        }
        Network built = Models.build(cfg, new CpuBackend()), shapes = Models.shapes(cfg);
        assertEquals(layout(built), layout(shapes));
        assertEquals(OpsCommand.count(built), OpsCommand.count(shapes));
        return OpsCommand.count(shapes);
    }

    private static List<String> layout(Network net) {
        return net.namedParams().entrySet().stream().map(e -> e.getKey() + Arrays.toString(e.getValue().value.shape())
                + e.getValue().trainable).toList();
    }

    /**
     * The largest model the limits allow (98.7 M parameters, 26 G MACs): ops used to build it (2.1 GB, 8 s); counting
     * it now allocates a few MB. Measured as bytes this thread allocated, so no timing and no heap size matter.
     */
    @Test
    void largestModelCountsWithoutAllocatingItsWeights() {
        String[] args = {"ops", "--model", "resnet", "--widths", "1024,1024,1024,1024,1024", "--blocks", "1"};
        CliRunner.run(args); // warm: class loading and picocli's first parse are not the model
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = mx.getCurrentThreadAllocatedBytes();
        CliRunner.Result r = CliRunner.run(args);
        long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| **total** | | **98,634,762** | **98,665,482** | **26,129,475,584**"), r.out());
        assertTrue(allocated < 64L << 20, "ops allocated " + (allocated >> 20) + " MiB; the weights alone are 376 MiB");
    }

    @ParameterizedTest
    @CsvSource({
            "cnn, constant, 1, 522, 526", "residual, constant, 1, 524, 530", "pde, constant, 1, 524, 530",
            "pde, perona_malik, 1, 524, 530", "cnn, constant, 8, 4596, 4614", "residual, constant, 8, 4612, 4646",
            "pde, constant, 8, 4612, 4646", "pde, perona_malik, 8, 4612, 4646"})
    void mnistTable1(String model, String d, int c, long trainable, long withStats) {
        OpsCommand.Counts k = count("model", model, "diffusivity", d, "channels", Integer.toString(c));
        assertEquals(trainable, k.trainable());
        assertEquals(withStats, k.withStats());
    }

    @ParameterizedTest
    @CsvSource({
            // row: velocity net, diffusivity, diffusivity net, init, trainable, with stats, MACs
            "resnet32, dwconv, learned, dwconv, identity, 841050, 844922, 75088512",
            "resnet32_global, dwconv, learned, dwconv, identity, 161402, 163578, 14779008",
            "resnet32_global, identity, constant, dwconv, identity, 156922, 158650, 13746816",
            "resnet32_global, basic, learned, basic, identity, 546234, 550202, 70369920",
            "resnet32_global, dwconv, perona_malik, dwconv, identity, 158938, 160666, 14262912",
            "resnet32_global, dwconv, learned, dwconv, basic, 258618, 261242, 28934784"})
    void cifarTable2(String model, String vnet, String d, String dnet, String init, long trainable, long withStats,
                     long macs) {
        OpsCommand.Counts k = count("model", model, "velocity_net", vnet, "diffusivity", d, "diffusivity_net", dnet,
                "init", init);
        assertEquals(trainable, k.trainable());
        assertEquals(withStats, k.withStats());
        assertEquals(macs, k.macs());
    }

    @ParameterizedTest
    @CsvSource({
            "row1_resnet32, 841050, 844922, 75088512", "row2_resnet32_global, 161402, 163578, 14779008",
            "row3_velocity_identity_d_constant, 156922, 158650, 13746816", "row4_basic_basic, 546234, 550202, 70369920",
            "row5_perona_malik, 158938, 160666, 14262912", "row6_init_basic, 258618, 261242, 28934784",
            // issue 25: row 7 as the study ran it (velocity networks fed zeros) counts as row 2; u = v = 0 as row 5
            "row7_diffusion, 161402, 163578, 14779008", "row8_advection, 158938, 160666, 14262912",
            "diffusion_exact_zero, 158938, 160666, 14262912"})
    void table2ConfigFiles(String file, long trainable, long withStats, long macs) {
        CliRunner.Result r = CliRunner.run("ops", "--config", "configs/cifar10/" + file + ".yaml");
        assertEquals(0, r.code(), r.err());
        String total = String.format(java.util.Locale.ROOT, "| **total** | | **%,d** | **%,d** | **%,d**", trainable,
                withStats, macs);
        assertTrue(r.out().contains(total), r.out());
    }

    @Test
    void opsCommandPrintsTheTable() {
        CliRunner.Result r = CliRunner.run("ops", "--mnist-table");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| mnist_pde_pm_c8 | 8 | 4,612 | 4,646 |"), r.out());
        CliRunner.Result g = CliRunner.run("ops", "--model", "resnet32_global");
        assertTrue(g.out().contains("**161,402**") && g.out().contains("**163,578**"), g.out());
        assertTrue(g.out().contains("PDE stencil"), g.out());
    }
}
