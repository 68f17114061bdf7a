package dev.pdecnn.cli;

import dev.pdecnn.config.RunConfig;
import dev.pdecnn.models.MnistBlocks;
import dev.pdecnn.models.Models;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.GlobalLayer;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Param;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "ops", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Parameter and multiply-accumulate counts of a model, per layer and in total.",
                "Parameters are counted trainable only and with BN running mean/variance (the study's tables); "
                        + "MACs are conv + dense per image; the PDE stencil's element-wise work is reported apart."})
final class OpsCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Spec
    CommandSpec spec;

    @Mixin
    ConfigOptions model;

    @Option(names = "--mnist-table", description = "Print the summary table of the six MNIST models of the study's "
            + "Table 1 (cnn, residual, pde constant-D, pde Perona-Malik; C = 1 and 8) instead.")
    boolean mnistTable;

    /** Counts for one network: trainable, with BN statistics, conv+dense MACs and PDE stencil flops per image. */
    public record Counts(String name, long trainable, long withStats, long macs, long stencilFlops) {
    }

    static Counts count(Network net) {
        long tr = 0, all = 0;
        for (Param p : net.namedParams().values()) {
            all += p.size();
            tr += p.trainable ? p.size() : 0;
        }
        return new Counts(net.name, tr, all, net.macs(), stencil(net, net.inputChw));
    }

    private static long stencil(Module m, int[] chw) {
        long s = 0;
        if (m instanceof GlobalLayer g) {
            return g.stencilFlops(chw);
        }
        if (m instanceof MnistBlocks.Pde p) {
            return p.stencilFlops(chw);
        }
        if (m instanceof Network n) {
            int[] shape = chw;
            for (Map.Entry<String, Module> e : n.body().children().entrySet()) {
                s += stencil(e.getValue(), shape);
                shape = e.getValue().outShape(shape);
            }
        }
        return s;
    }

    @Override
    public Integer call() {
        PrintStream out = main.out;
        if (mnistTable) {
            out.println("| model | C | trainable | with BN stats | conv+dense MACs | PDE stencil flops |");
            out.println("|---|---|---|---|---|---|");
            for (int c : new int[]{1, 8}) {
                for (String[] m : new String[][]{{"cnn", "constant"}, {"residual", "constant"}, {"pde", "constant"},
                        {"pde", "perona_malik"}}) {
                    RunConfig cfg = new RunConfig();
                    cfg.set("model", m[0], "ops");
                    cfg.set("channels", c, "ops");
                    cfg.set("diffusivity", m[1], "ops");
                    Counts k = count(Models.shapes(cfg));
                    out.printf(Locale.ROOT, "| %s | %d | %,d | %,d | %,d | %,d |%n", k.name(), c, k.trainable(),
                            k.withStats(), k.macs(), k.stencilFlops());
                }
            }
            return 0;
        }
        RunConfig cfg = ConfigOptions.resolve(spec, model.config);
        Network net = Models.shapes(cfg); // names and shapes only: counting allocates no weights
        out.printf(Locale.ROOT, "%s, input %dx%dx%d%n", net.name, net.inputChw[0], net.inputChw[1], net.inputChw[2]);
        out.println("| layer | output | trainable | with BN stats | MACs |");
        out.println("|---|---|---|---|---|");
        int[] shape = net.inputChw;
        List<String> rows = new ArrayList<>();
        for (Map.Entry<String, Module> e : net.body().children().entrySet()) {
            Module m = e.getValue();
            int[] o = m.outShape(shape);
            long tr = 0, all = 0;
            for (Param p : m.namedParams().values()) {
                all += p.size();
                tr += p.trainable ? p.size() : 0;
            }
            String name = e.getKey().startsWith("_") ? "(" + m.getClass().getSimpleName().toLowerCase(Locale.ROOT) + ")"
                    : e.getKey();
            rows.add(String.format(Locale.ROOT, "| %s | %dx%dx%d | %,d | %,d | %,d |", name, o[0], o[1], o[2], tr,
                    all, m.macs(shape)));
            shape = o;
        }
        rows.forEach(out::println);
        Counts k = count(net);
        out.printf(Locale.ROOT, "| **total** | | **%,d** | **%,d** | **%,d** (%.2fM) |%n", k.trainable(),
                k.withStats(), k.macs(), k.macs() / 1e6);
        out.printf(Locale.ROOT, "PDE stencil (element-wise, not in MACs): %,d flops per image%n", k.stencilFlops());
        return 0;
    }
}
