package dev.pdecnn.viz;

import dev.pdecnn.io.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Static PNG charts for run reports: training curves per run and labelled scatter plots across runs
 * (accuracy against MACs or parameters). Rendered off-screen with JFreeChart, so they work headless.
 */
public final class Plots {

    /**
     * One row of the training log. Accuracies are fractions in [0, 1] (plotted as %). A value that was not
     * measured that epoch may be NaN; it is left out of its curve.
     */
    public record EpochPoint(int epoch, double trainLoss, double trainAcc, double testLoss, double testAcc, double lr) {
    }

    /** A labelled point of a scatter plot. */
    public record Point(String label, double x, double y) {
    }

    static final int CURVES_WIDTH = 1000;
    static final int CURVES_HEIGHT = 450;
    static final int SCATTER_WIDTH = 800;
    static final int SCATTER_HEIGHT = 600;

    // Matplotlib's first two default colours: readers of ML papers already associate them with train/test.
    private static final Color TRAIN = new Color(0x1f77b4);
    private static final Color TEST = new Color(0xff7f0e);
    private static final Color GRID = new Color(0xdddddd);
    private static final String FONT = Font.SANS_SERIF;
    private static final int TITLE_HEIGHT = 40;

    private Plots() {
    }

    /** Writes a two-panel PNG (loss | accuracy in %), train and test curves in each, atomically. */
    public static void trainingCurves(Path png, String title, List<EpochPoint> points) {
        AtomicFiles.writeBytes(png, encodePng(renderTrainingCurves(title, points)));
    }

    /** Writes a scatter plot with each point labelled by its {@link Point#label()}, atomically. */
    public static void scatter(Path png, String title, String xLabel, String yLabel, List<Point> points) {
        AtomicFiles.writeBytes(png, encodePng(renderScatter(title, xLabel, yLabel, points)));
    }

    static BufferedImage renderTrainingCurves(String title, List<EpochPoint> points) {
        XYSeriesCollection loss = new XYSeriesCollection();
        loss.addSeries(series("train", points, EpochPoint::trainLoss, 1));
        loss.addSeries(series("test", points, EpochPoint::testLoss, 1));
        XYSeriesCollection acc = new XYSeriesCollection();
        acc.addSeries(series("train", points, EpochPoint::trainAcc, 100));
        acc.addSeries(series("test", points, EpochPoint::testAcc, 100));

        boolean markers = points.size() <= 40; // on long runs markers just thicken the line
        JFreeChart lossChart = curveChart("Loss", "loss", loss, markers, true);
        JFreeChart accChart = curveChart(accuracyTitle(points), "accuracy (%)", acc, markers, false);

        BufferedImage img = new BufferedImage(CURVES_WIDTH, CURVES_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        drawCentred(g, title, new Font(FONT, Font.BOLD, 20), CURVES_WIDTH, TITLE_HEIGHT);
        int half = CURVES_WIDTH / 2;
        int h = CURVES_HEIGHT - TITLE_HEIGHT;
        lossChart.draw(g, new Rectangle2D.Double(0, TITLE_HEIGHT, half, h));
        accChart.draw(g, new Rectangle2D.Double(half, TITLE_HEIGHT, CURVES_WIDTH - half, h));
        g.dispose();
        return img;
    }

    static BufferedImage renderScatter(String title, String xLabel, String yLabel, List<Point> points) {
        XYSeries s = new XYSeries("points", false, true);
        for (Point p : points) {
            s.add(p.x(), p.y());
        }
        XYSeriesCollection data = new XYSeriesCollection(s);
        JFreeChart chart = ChartFactory.createScatterPlot(title, xLabel, yLabel, data,
                PlotOrientation.VERTICAL, false, false, false);
        style(chart, 20);
        XYPlot plot = chart.getXYPlot();
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(false, true);
        r.setSeriesPaint(0, TRAIN);
        r.setSeriesShape(0, new Ellipse2D.Double(-5, -5, 10, 10));
        // The series was built unsorted and without sorting, so item i is points.get(i).
        r.setDefaultItemLabelGenerator((dataset, series, item) -> points.get(item).label());
        r.setDefaultItemLabelsVisible(true);
        r.setDefaultItemLabelFont(new Font(FONT, Font.PLAIN, 13));
        r.setDefaultItemLabelPaint(Color.DARK_GRAY);
        r.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE3, TextAnchor.CENTER_LEFT));
        r.setDefaultNegativeItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE3, TextAnchor.CENTER_LEFT));
        r.setItemLabelInsets(new RectangleInsets(4, 4, 4, 4));
        plot.setRenderer(r);
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        NumberAxis y = (NumberAxis) plot.getRangeAxis();
        x.setAutoRangeIncludesZero(false);
        y.setAutoRangeIncludesZero(false);
        // Labels sit right of their point; leave room so the rightmost ones are not cut at the plot edge.
        x.setUpperMargin(0.25);
        x.setLowerMargin(0.08);
        y.setUpperMargin(0.1);
        y.setLowerMargin(0.1);

        BufferedImage img = new BufferedImage(SCATTER_WIDTH, SCATTER_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        chart.draw(g, new Rectangle2D.Double(0, 0, SCATTER_WIDTH, SCATTER_HEIGHT));
        g.dispose();
        return img;
    }

    private static String accuracyTitle(List<EpochPoint> points) {
        EpochPoint best = null;
        for (EpochPoint p : points) {
            if (Double.isFinite(p.testAcc()) && (best == null || p.testAcc() > best.testAcc())) {
                best = p;
            }
        }
        return best == null ? "Accuracy"
                : String.format(Locale.ROOT, "Accuracy (best test %.2f%% at epoch %d)", 100 * best.testAcc(), best.epoch());
    }

    private interface Field {
        double get(EpochPoint p);
    }

    private static XYSeries series(String name, List<EpochPoint> points, Field f, double scale) {
        XYSeries s = new XYSeries(name, true, false);
        for (EpochPoint p : points) {
            double v = f.get(p);
            if (Double.isFinite(v)) {
                s.add(p.epoch(), v * scale);
            }
        }
        return s;
    }

    private static JFreeChart curveChart(String title, String yLabel, XYSeriesCollection data, boolean markers,
                                         boolean includeZero) {
        JFreeChart chart = ChartFactory.createXYLineChart(title, "epoch", yLabel, data,
                PlotOrientation.VERTICAL, true, false, false);
        style(chart, 16);
        XYPlot plot = chart.getXYPlot();
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, markers);
        BasicStroke stroke = new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
        Color[] colors = {TRAIN, TEST};
        for (int i = 0; i < colors.length; i++) {
            r.setSeriesPaint(i, colors[i]);
            r.setSeriesStroke(i, stroke);
            r.setSeriesShape(i, new Ellipse2D.Double(-3, -3, 6, 6));
        }
        r.setDrawSeriesLineAsPath(true); // smooth joins instead of per-segment caps
        plot.setRenderer(r);
        NumberAxis x = (NumberAxis) plot.getDomainAxis();
        x.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        x.setAutoRangeIncludesZero(false);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(includeZero);
        return chart;
    }

    /** Shared look: white background, light grid, fonts large enough to read when the PNG is scaled down. */
    static void style(JFreeChart chart, int titleSize) {
        chart.setAntiAlias(true);
        chart.setTextAntiAlias(true);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(4, 8, 8, 12));
        if (chart.getTitle() != null) {
            chart.getTitle().setFont(new Font(FONT, Font.BOLD, titleSize));
        }
        LegendTitle legend = chart.getLegend();
        if (legend != null) {
            legend.setItemFont(new Font(FONT, Font.PLAIN, 14));
            legend.setFrame(BlockBorder.NONE);
            legend.setBackgroundPaint(Color.WHITE);
        }
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setOutlinePaint(Color.GRAY);
        plot.setDomainGridlinePaint(GRID);
        plot.setRangeGridlinePaint(GRID);
        plot.setDomainGridlineStroke(new BasicStroke(1f));
        plot.setRangeGridlineStroke(new BasicStroke(1f));
        for (ValueAxis a : new ValueAxis[] {plot.getDomainAxis(), plot.getRangeAxis()}) {
            a.setLabelFont(new Font(FONT, Font.PLAIN, 14));
            a.setTickLabelFont(new Font(FONT, Font.PLAIN, 12));
        }
    }

    static Graphics2D canvas(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    private static void drawCentred(Graphics2D g, String text, Font font, int width, int height) {
        if (text == null || text.isEmpty()) {
            return;
        }
        g.setFont(font);
        g.setColor(Color.BLACK);
        FontMetrics fm = g.getFontMetrics();
        int x = Math.max(4, (width - fm.stringWidth(text)) / 2);
        int y = (height - fm.getHeight()) / 2 + fm.getAscent();
        g.drawString(text, x, y);
    }

    static byte[] encodePng(BufferedImage img) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 * 1024);
        try {
            if (!ImageIO.write(img, "png", bytes)) {
                throw new IllegalStateException("no PNG writer in this JRE");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // cannot happen for an in-memory stream
        }
        return bytes.toByteArray();
    }
}
