package dev.pdecnn.cli;

import dev.pdecnn.report.RunReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Gathers finished runs into the study's table (model, v, D, init, parameters, MACs, best and",
                "final accuracy, epochs, seconds per epoch) as Markdown and CSV, and plots accuracy against MACs."})
final class ReportCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Parameters(paramLabel = "DIR", arity = "0..*", defaultValue = "runs", description = "Run folders, or folders "
            + "holding run folders. Default: ${DEFAULT-VALUE}.")
    List<Path> roots;

    @Option(names = {"-o", "--output"}, defaultValue = "report", description = "Output prefix: writes PREFIX.md, "
            + "PREFIX.csv and PREFIX.png. Default: ${DEFAULT-VALUE}.")
    String output;

    @Override
    public Integer call() {
        List<RunReport.Row> rows = RunReport.collect(roots);
        main.out.print(RunReport.markdown(rows));
        for (Path p : RunReport.write(rows, Path.of(output))) {
            main.out.println("wrote " + p);
        }
        return 0;
    }
}
