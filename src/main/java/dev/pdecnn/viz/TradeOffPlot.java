package dev.pdecnn.viz;

import dev.pdecnn.io.AtomicFiles;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.LegendItem;
import org.jfree.chart.annotations.XYLineAnnotation;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The study's trade-off picture: accuracy against multiply-accumulates, each of our groups in its own colour as
 * a filled circle (mean) with a ±1 sample-std bar over seeds, the study's published accuracy for the same row as
 * a hollow diamond of that colour joined to it by a dashed line; a legend names the groups. One panel per data
 * set (their MAC scales differ by 100x), stacked.
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
    /** Matplotlib's tab10: distinct hues that readers of ML papers know; groups beyond ten reuse them in order. */
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
            new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
            new Color(0xbcbd22), new Color(0x17becf)};

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
        List<Point> pts = panel.points();
        double[] dx = dodge(pts);
        // Two series per group, 2i ours and 2i+1 the study's point; both in the group's colour.
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        for (int i = 0; i < pts.size(); i++) {
            Point p = pts.get(i);
            YIntervalSeries ours = new YIntervalSeries(p.label(), false, true);
            double e = Double.isFinite(p.yStd()) ? p.yStd() : 0;
            ours.add(p.x() + dx[i], p.y(), p.y() - e, p.y() + e);
            YIntervalSeries study = new YIntervalSeries(p.label() + " (study)", false, true);
            if (Double.isFinite(p.studyY())) {
                study.add(p.studyX() + dx[i], p.studyY(), p.studyY(), p.studyY());
            }
            data.addSeries(ours);
            data.addSeries(study);
        }
        boolean spread = java.util.Arrays.stream(dx).anyMatch(d -> d != 0);
        NumberAxis x = new NumberAxis(panel.xLabel() + (spread ? "; groups of equal MACs drawn side by side" : ""));
        NumberAxis y = new NumberAxis(panel.yLabel());
        // MACs from zero: the trade-off reads as ratios, and one model alone still gets a sensible axis.
        x.setAutoRangeIncludesZero(true);
        x.setUpperMargin(0.06);
        y.setAutoRangeIncludesZero(false);
        y.setAutoRangeMinimumSize(2.0); // percentage points; a single point with no bar would get a degenerate axis
        y.setUpperMargin(0.08);
        y.setLowerMargin(0.08);

        XYErrorRenderer r = new XYErrorRenderer();
        r.setDrawXError(false);
        r.setDrawYError(true);
        r.setErrorStroke(new BasicStroke(1.5f));
        r.setCapLength(8);
        r.setDefaultLinesVisible(false);
        LegendItemCollection legend = new LegendItemCollection();
        Shape circle = new Ellipse2D.Double(-5, -5, 10, 10);
        for (int i = 0; i < pts.size(); i++) {
            Color c = PALETTE[i % PALETTE.length];
            r.setSeriesPaint(2 * i, c);
            r.setSeriesShape(2 * i, circle);
            r.setSeriesPaint(2 * i + 1, c);
            r.setSeriesShape(2 * i + 1, diamond(7));
            r.setSeriesShapesFilled(2 * i + 1, false); // hollow: the study's, not a measurement of ours
            r.setSeriesOutlineStroke(2 * i + 1, new BasicStroke(2f));
            r.setUseOutlinePaint(false);
            legend.add(new LegendItem(pts.get(i).label(), null, null, null, circle, c));
        }
        legend.add(new LegendItem("study (published)", null, null, null, true, diamond(6), false, Color.DARK_GRAY,
                true, Color.DARK_GRAY, new BasicStroke(2f), false, circle, new BasicStroke(1f), Color.DARK_GRAY));
        r.setDrawOutlines(true);

        XYPlot plot = new XYPlot(data, x, y, r);
        plot.setFixedLegendItems(legend);
        BasicStroke dashed = new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{4f, 4f}, 0f);
        for (int i = 0; i < pts.size(); i++) {
            Point p = pts.get(i);
            if (Double.isFinite(p.studyY())) {
                plot.addAnnotation(new XYLineAnnotation(p.x() + dx[i], p.y(), p.studyX() + dx[i], p.studyY(), dashed,
                        PALETTE[i % PALETTE.length]));
            }
        }
        JFreeChart chart = new JFreeChart(panel.title(), new Font(Font.SANS_SERIF, Font.BOLD, 18), plot, true);
        Plots.style(chart, 18);
        return chart;
    }

    /**
     * Horizontal offsets that spread groups of (nearly) equal MACs side by side: the MNIST blocks of one width
     * all cost the same, and so do several Table 2 rows. Points within 1.5% of the largest x share a cluster; its
     * m members are spaced 2% of that x apart, centred on the true value. The offsets are for legibility only;
     * the tables carry the exact counts.
     */
    static double[] dodge(List<Point> pts) {
        double max = pts.stream().mapToDouble(p -> Math.max(p.x(), Double.isFinite(p.studyX()) ? p.studyX() : 0))
                .max().orElse(1);
        double[] dx = new double[pts.size()];
        boolean[] done = new boolean[pts.size()];
        for (int i = 0; i < pts.size(); i++) {
            if (done[i]) {
                continue;
            }
            List<Integer> cluster = new ArrayList<>();
            for (int j = i; j < pts.size(); j++) {
                if (!done[j] && Math.abs(pts.get(j).x() - pts.get(i).x()) <= 0.015 * max) {
                    cluster.add(j);
                    done[j] = true;
                }
            }
            for (int k = 0; k < cluster.size(); k++) {
                dx[cluster.get(k)] = (k - (cluster.size() - 1) / 2.0) * 0.02 * max;
            }
        }
        return dx;
    }

    private static Shape diamond(double s) {
        java.awt.geom.Path2D.Double d = new java.awt.geom.Path2D.Double();
        d.moveTo(0, -s);
        d.lineTo(s, 0);
        d.lineTo(0, s);
        d.lineTo(-s, 0);
        d.closePath();
        return d;
    }
}
