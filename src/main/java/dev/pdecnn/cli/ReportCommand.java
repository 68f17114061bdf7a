package dev.pdecnn.cli;

import dev.pdecnn.report.RunReport;
import dev.pdecnn.report.SweepReport;
import dev.pdecnn.report.SweepTables;
import dev.pdecnn.sweep.Plan;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Gathers finished runs into the study's table (model, v, D, init, parameters,",
                "MACs, best and final accuracy, epochs, seconds per epoch) as Markdown and CSV,",
                "and plots accuracy against MACs. Given one sweep folder (it holds plan.json),",
                "groups its cells across seeds: mean ± sample std per group, the study's",
                "published accuracy beside ours, unfinished cells counted and listed."})
final class ReportCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(paramLabel = "DIR", arity = "0..*", defaultValue = "runs", description = "Run folders, or folders "
            + "holding run folders, or one sweep folder. Default: ${DEFAULT-VALUE}.")
    List<Path> roots;

    @Option(names = {"-o", "--output"}, description = "Output prefix: writes PREFIX.md, PREFIX.csv and PREFIX.png "
            + "(and PREFIX-cells.csv for a sweep), never over a run's own files. Default: report, or SWEEP/report "
            + "for a sweep folder.")
    String output;

    @Override
    public Integer call() {
        if (roots.size() == 1 && SweepReport.isSweep(roots.get(0))) {
            Path prefix = output != null ? Path.of(output) : roots.get(0).resolve("report");
            checkOutputs(prefix, List.of(".md", ".csv", "-cells.csv", ".png"));
            SweepReport sweep = SweepReport.read(roots.get(0), Plan::read);
            sweep.warnings.forEach(w -> main.err.println("warning: " + w));
            main.out.print(SweepTables.markdown(sweep));
            for (Path p : SweepTables.write(sweep, prefix)) {
                main.out.println("wrote " + p);
            }
            return 0;
        }
        Path prefix = Path.of(output != null ? output : "report");
        checkOutputs(prefix, List.of(".md", ".csv", ".png"));
        List<RunReport.Row> rows = RunReport.collect(roots, w -> main.err.println("warning: " + w));
        main.out.print(RunReport.markdown(rows));
        for (Path p : RunReport.write(rows, prefix)) {
            main.out.println("wrote " + p);
        }
        return 0;
    }

    /** The output rule for each file PREFIX names: -o RUN/metrics would replace the run's metrics.csv. */
    private static void checkOutputs(Path prefix, List<String> suffixes) {
        for (String s : suffixes) {
            Path file = Path.of(prefix + s);
            OutputFile.check("--output " + prefix + ":", file, "report", List.of(s), List.of());
        }
    }
}
