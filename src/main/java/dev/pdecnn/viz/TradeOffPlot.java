package dev.pdecnn.viz;

import dev.pdecnn.io.AtomicFiles;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.annotations.XYLineAnnotation;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;

/**
 * The study's trade-off picture: accuracy against multiply-accumulates, our groups as mean with a ±1 sample-std
 * bar over seeds, the study's published accuracy as a second marker, and a dashed line from each of our points
 * to the published one of the same row. One panel per data set (their MAC scales differ by 100x), stacked.
 */
public final class TradeOffPlot {
    /**
     * One of our groups. {@code y} and {@code yStd} in %, {@code yStd} NaN for a single seed (no bar);
     * {@code studyX}/{@code studyY} the published point of its row, NaN when the study has none.
     */
    public record Point(String label, double x, double y, double yStd, double studyX, double studyY) {
    }

    public record Panel(String title, String xLabel, String yLabel, List<Point> points) {
    }

    static final int WIDTH = 900;
    static final int PANEL_HEIGHT = 620;
    private static final Color OURS = new Color(0x1f77b4);
    private static final Color STUDY = new Color(0xd62728);

    private TradeOffPlot() {
    }

    /** Writes the panels stacked vertically into one PNG, atomically. */
    public static void write(Path png, List<Panel> panels) {
        AtomicFiles.writeBytes(png, Plots.encodePng(render(panels)));
    }

    static BufferedImage render(List<Panel> panels) {
        BufferedImage img = new BufferedImage(WIDTH, PANEL_HEIGHT * Math.max(1, panels.size()), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = Plots.canvas(img);
        for (int i = 0; i < panels.size(); i++) {
            chart(panels.get(i)).draw(g, new Rectangle2D.Double(0, i * PANEL_HEIGHT, WIDTH, PANEL_HEIGHT));
        }
        g.dispose();
        return img;
    }

    private static JFreeChart chart(Panel panel) {
        YIntervalSeries ours = new YIntervalSeries("ours: mean ± sample std over seeds", false, true);
        YIntervalSeries study = new YIntervalSeries("study (published)", false, true);
        for (Point p : panel.points()) {
            double e = Double.isFinite(p.yStd()) ? p.yStd() : 0;
            ours.add(p.x(), p.y(), p.y() - e, p.y() + e);
        }
        for (Point p : panel.points()) {
            if (Double.isFinite(p.studyY())) {
                study.add(p.studyX(), p.studyY(), p.studyY(), p.studyY());
            }
        }
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        data.addSeries(ours);
        data.addSeries(study);
        NumberAxis x = new NumberAxis(panel.xLabel());
        NumberAxis y = new NumberAxis(panel.yLabel());
        // MACs from zero: the trade-off reads as ratios, and one model alone still gets a sensible axis.
        x.setAutoRangeIncludesZero(true);
        y.setAutoRangeIncludesZero(false);
        y.setAutoRangeMinimumSize(2.0); // percentage points; a single point with no bar would get a degenerate axis
        // Labels sit right of their point: room on the right, and above and below for the bars.
        x.setUpperMargin(0.22);
        x.setLowerMargin(0.08);
        y.setUpperMargin(0.12);
        y.setLowerMargin(0.12);

        XYErrorRenderer r = new XYErrorRenderer();
        r.setDrawXError(false);
        r.setDrawYError(true);
        r.setErrorPaint(OURS);
        r.setErrorStroke(new BasicStroke(1.5f));
        r.setCapLength(8);
        r.setDefaultLinesVisible(false);
        r.setSeriesPaint(0, OURS);
        r.setSeriesShape(0, new Ellipse2D.Double(-5, -5, 10, 10));
        r.setSeriesPaint(1, STUDY);
        r.setSeriesShape(1, diamond(7));
        // Only our points carry labels (the dashed line ties each to its study point); item i of series 0 is
        // points.get(i) because the series is neither sorted nor deduplicated.
        r.setDefaultItemLabelGenerator((d, series, item) -> series == 0 ? panel.points().get(item).label() : null);
        r.setSeriesItemLabelsVisible(0, true);
        r.setSeriesItemLabelsVisible(1, false);
        r.setDefaultItemLabelFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        r.setDefaultItemLabelPaint(Color.DARK_GRAY);
        ItemLabelPosition right = new ItemLabelPosition(ItemLabelAnchor.OUTSIDE3, TextAnchor.CENTER_LEFT);
        r.setDefaultPositiveItemLabelPosition(right);
        r.setDefaultNegativeItemLabelPosition(right);
        r.setItemLabelInsets(new RectangleInsets(4, 6, 4, 4));

        XYPlot plot = new XYPlot(data, x, y, r);
        BasicStroke dashed = new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{4f, 4f}, 0f);
        for (Point p : panel.points()) {
            if (Double.isFinite(p.studyY())) {
                plot.addAnnotation(new XYLineAnnotation(p.x(), p.y(), p.studyX(), p.studyY(), dashed, Color.GRAY));
            }
        }
        JFreeChart chart = new JFreeChart(panel.title(), new Font(Font.SANS_SERIF, Font.BOLD, 18), plot, true);
        Plots.style(chart, 18);
        return chart;
    }

    private static java.awt.Shape diamond(double s) {
        java.awt.geom.Path2D.Double d = new java.awt.geom.Path2D.Double();
        d.moveTo(0, -s);
        d.lineTo(s, 0);
        d.lineTo(0, s);
        d.lineTo(-s, 0);
        d.closePath();
        return d;
    }
}
