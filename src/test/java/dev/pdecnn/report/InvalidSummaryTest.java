package dev.pdecnn.report;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 23 item 8: a summary.json with values no run writes (NaN, 1e400, a negative accuracy, MACs beyond a long)
 * used to give a plot library's stack trace, a mean of -220 % or "9223372036854.78M" MACs. Such a cell is now
 * listed as invalid, left out of the means and the plot, with one warning line naming its file.
 */
class InvalidSummaryTest {
    /** Replaces the value of {@code key} in a summary.json as text (Gson cannot write NaN or 1e400 itself). */
    private static void edit(Path summary, String key, String value) throws IOException {
        String s = Files.readString(summary);
        String t = s.replaceFirst("\"" + key + "\":[^,}]+", "\"" + key + "\":" + value);
        assertFalse(s.equals(t), key);
        Files.writeString(summary, t);
    }

    @Test
    void sweepCellsWithInvalidValuesAreFlaggedAndLeftOut(@TempDir Path tmp) throws IOException {
        Path dir = SweepReportTest.fixture(tmp.resolve("sweep"));
        edit(dir.resolve("cells/row2-s1/summary.json"), "best_test_acc", "NaN");
        edit(dir.resolve("cells/row2-s2/summary.json"), "best_test_acc", "1e400");
        edit(dir.resolve("cells/row2-K3-s1/summary.json"), "final_test_acc", "-2.2");
        edit(dir.resolve("cells/row1-s1/summary.json"), "macs", "1e400");

        SweepReport r = SweepReport.read(dir);
        assertEquals(List.of("row2-s1", "row2-s2", "row2-K3-s1", "row1-s1"), r.cells.stream()
                .filter(c -> c.state() == SweepReport.State.INVALID).map(SweepReport.Cell::id).toList());
        assertEquals(4, r.warnings.size(), r.warnings.toString());
        assertTrue(r.warnings.get(0).contains(dir.resolve("cells/row2-s1/summary.json").toString())
                && r.warnings.get(0).contains("best_test_acc is NaN"), r.warnings.get(0));
        SweepReport.Group row2 = r.groups.stream().filter(g -> g.label().equals("row2")).findFirst().orElseThrow();
        assertEquals(1, row2.best().n(), "only row2-s3 is averaged");
        assertEquals(0.935, row2.best().mean(), 1e-12);
        SweepReport.Group k3 = r.groups.stream().filter(g -> g.label().equals("row2-K3")).findFirst().orElseThrow();
        assertEquals(0.86, k3.last().mean(), 1e-12, "the negative accuracy is not averaged");
        SweepReport.Group row1 = r.groups.stream().filter(g -> g.label().equals("row1")).findFirst().orElseThrow();
        assertEquals(0, row1.best().n());
        assertEquals(75_088_512, row1.macs(), "counted from the model, not the damaged summary");

        String md = SweepTables.markdown(r);
        assertTrue(md.contains("row2-s1 has an invalid summary.json (best_test_acc is NaN (must be in [0, 1]))"), md);
        assertTrue(md.contains("row2-s2 has an invalid summary.json (best_test_acc is Infinity"), md);
        assertFalse(md.contains("9223372036854"), md);
        assertTrue(SweepTables.cellsCsv(r).contains(",invalid,"));

        CliRunner.Result res = CliRunner.run("report", dir.toString(), "-o", tmp.resolve("out/r").toString());
        assertEquals(0, res.code(), res.err());
        List<String> lines = res.err().strip().lines().toList();
        assertEquals(4, lines.size(), res.err());
        assertTrue(lines.stream().allMatch(l -> l.startsWith("warning: report: ") && l.contains("summary.json")),
                res.err());
        assertNotNull(ImageIO.read(tmp.resolve("out/r.png").toFile()), "the plot is drawn without them");
    }

    @Test
    void runReportLeavesInvalidRunsOut(@TempDir Path tmp) throws IOException {
        Path dir = SweepReportTest.fixture(tmp.resolve("sweep"));
        edit(dir.resolve("cells/row2-s1/summary.json"), "best_test_acc", "NaN");
        edit(dir.resolve("cells/row2-s2/summary.json"), "macs", "99999999999999999999");
        edit(dir.resolve("cells/row2-s3/summary.json"), "trainable_params", "-5");
        CliRunner.Result res = CliRunner.run("report", dir.resolve("cells").toString(), "-o",
                tmp.resolve("out/r").toString());
        assertEquals(0, res.code(), res.err());
        assertEquals(3, res.err().strip().lines().count(), res.err());
        assertTrue(res.err().contains(dir.resolve("cells/row2-s2/summary.json") + " holds invalid values (macs is "),
                res.err());
        String md = Files.readString(tmp.resolve("out/r.md"));
        assertFalse(md.contains("| row2-s1 |") || md.contains("| row2-s2 |") || md.contains("| row2-s3 |"), md);
        assertTrue(md.contains("| row2-K3-s1 |"), md);
        assertNotNull(ImageIO.read(tmp.resolve("out/r.png").toFile()));
    }
}
