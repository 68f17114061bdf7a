package dev.pdecnn.sweep;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The per-cell table of {@code sweep status} (also printed when {@code sweep run} ends) and its totals. */
public final class StatusTable {
    private StatusTable() {
    }

    /** Prints the table and the totals line; returns the count of cells in each state. */
    public static Map<CellState.Kind, Integer> print(Path sweepDir, Plan plan, PrintStream o) {
        Map<CellState.Kind, Integer> totals = new EnumMap<>(CellState.Kind.class);
        int w = plan.cells().stream().mapToInt(c -> c.id().length()).max().orElse(2);
        String row = "%5s  %-" + w + "s  %7s  %9s  %s%n";
        o.printf(Locale.ROOT, row, "index", "id", "epochs", "best acc", "state");
        for (Cell c : plan.cells()) {
            CellState s = CellState.of(sweepDir, c);
            totals.merge(s.kind(), 1, Integer::sum);
            o.printf(Locale.ROOT, row, c.index(), c.id(), s.epochsDone() + "/" + c.epochs(),
                    s.bestAcc() >= 0 ? String.format(Locale.ROOT, "%.2f%%", 100 * s.bestAcc()) : "-", s.describe());
        }
        List<String> parts = new ArrayList<>();
        for (CellState.Kind k : CellState.Kind.values()) {
            parts.add(totals.getOrDefault(k, 0) + " " + k.name().toLowerCase(Locale.ROOT).replace('_', ' '));
        }
        o.println("sweep " + plan.name() + ": " + plan.cells().size() + " cells: " + String.join(", ", parts));
        return totals;
    }
}
