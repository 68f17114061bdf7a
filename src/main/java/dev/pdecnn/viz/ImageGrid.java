package dev.pdecnn.viz;

import dev.pdecnn.io.AtomicFiles;
import dev.pdecnn.tensor.Tensor;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * A figure of heat maps in rows and columns, each with a caption above it and its value range below, a
 * label left of each row and a title on top: the layout of the study's Figure 2 (input | conv feature map
 * | residual | PDE feature map | PDE velocity, one row per digit).
 *
 * <p>Every cell is normalised on its own, because the maps compared side by side live on unrelated
 * scales; the printed range keeps that honest. Sequential maps stretch [min, max] over the colormap (a
 * constant map gets the low colour, as matplotlib does); {@link Colormap#DIVERGING} maps scale by
 * max |value| so that zero is always the white centre and sign stays readable. Non-finite values are drawn
 * magenta and ignored for the range. Cells are upscaled nearest-neighbour so single pixels stay visible.
 */
public final class ImageGrid {

    /**
     * One heat map: {@code values} is row-major {@code h x w}. The array is read when the grid is rendered,
     * not copied.
     */
    public record Cell(String caption, float[] values, int h, int w, Colormap cmap) {
        public Cell {
            Objects.requireNonNull(values, "values");
            Objects.requireNonNull(cmap, "cmap");
            if (h <= 0 || w <= 0 || (long) h * w != values.length) {
                throw new IllegalArgumentException("cell '" + caption + "': " + values.length
                        + " values do not make a " + h + "x" + w + " map");
            }
            caption = caption == null ? "" : caption;
        }

        /** A cell from a rank-2 {@code [H, W]} tensor (any dtype). */
        public static Cell of(String caption, Tensor hw, Colormap cmap) {
            if (hw.rank() != 2) {
                throw new IllegalArgumentException("expected an [H, W] tensor, got " + hw);
            }
            return plane(caption, hw.reshape(1, 1, hw.dim(0), hw.dim(1)), 0, 0, cmap);
        }

        /** The {@code [n, c]} plane of an NCHW tensor (any dtype), copied. */
        public static Cell plane(String caption, Tensor nchw, int n, int c, Colormap cmap) {
            if (nchw.rank() != 4 || n < 0 || n >= nchw.dim(0) || c < 0 || c >= nchw.dim(1)) {
                throw new IllegalArgumentException("no plane [" + n + ", " + c + "] in " + nchw);
            }
            int h = nchw.dim(2);
            int w = nchw.dim(3);
            int base = (n * nchw.dim(1) + c) * h * w;
            float[] v = new float[h * w];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) nchw.get(base + i);
            }
            return new Cell(caption, v, h, w, cmap);
        }
    }

    private record Row(String label, List<Cell> cells) {
    }

    private static final String FONT = Font.SANS_SERIF;
    private static final Font TITLE_FONT = new Font(FONT, Font.BOLD, 20);
    private static final Font LABEL_FONT = new Font(FONT, Font.BOLD, 15);
    private static final Font CAPTION_FONT = new Font(FONT, Font.PLAIN, 14);
    private static final Font RANGE_FONT = new Font(FONT, Font.PLAIN, 11);
    private static final int PAD = 14;
    private static final int COL_GAP = 14;
    private static final int ROW_GAP = 12;
    static final int NAN_RGB = 0xff00ff;
    private static final Color BORDER = new Color(0xbbbbbb);
    private static final Color RANGE_TEXT = new Color(0x666666);

    private final String title;
    private final int cellPixels;
    private final List<Row> rows = new ArrayList<>();
    private boolean showRanges = true;

    /** {@code cellPixels}: the side of the square each map is scaled to fit (its longer side fills it). */
    public ImageGrid(String title, int cellPixels) {
        if (cellPixels < 8 || cellPixels > 4096) {
            throw new IllegalArgumentException("cellPixels must be in [8, 4096], got " + cellPixels);
        }
        this.title = title == null ? "" : title;
        this.cellPixels = cellPixels;
    }

    public ImageGrid addRow(String rowLabel, List<Cell> cells) {
        rows.add(new Row(rowLabel == null ? "" : rowLabel, List.copyOf(cells)));
        return this;
    }

    /** Whether to print each cell's [min, max] under it (default true). */
    public ImageGrid showRanges(boolean show) {
        this.showRanges = show;
        return this;
    }

    /** Renders and writes the PNG atomically. */
    public void save(Path png) {
        AtomicFiles.writeBytes(png, Plots.encodePng(render()));
    }

    // -------------------------------------------------------------------------------------------- layout

    /** Pixel positions of everything, computed once from font metrics so render() and tests agree. */
    final class Layout {
        final int width;
        final int height;
        final int titleBaseline;
        final int labelRight;
        final int gridLeft;
        final int[] rowTop;
        final int[] imageTop;
        final List<List<List<String>>> captions = new ArrayList<>();
        final FontMetrics title;
        final FontMetrics label;
        final FontMetrics caption;
        final FontMetrics range;

        Layout(Graphics2D g) {
            title = g.getFontMetrics(TITLE_FONT);
            label = g.getFontMetrics(LABEL_FONT);
            caption = g.getFontMetrics(CAPTION_FONT);
            range = g.getFontMetrics(RANGE_FONT);

            int labelWidth = 0;
            int cols = 0;
            for (Row r : rows) {
                for (String line : r.label.split("\n")) {
                    labelWidth = Math.max(labelWidth, label.stringWidth(line));
                }
                cols = Math.max(cols, r.cells.size());
            }
            labelRight = labelWidth == 0 ? 0 : PAD + labelWidth;
            gridLeft = labelRight + PAD;
            int gridWidth = cols * cellPixels + Math.max(0, cols - 1) * COL_GAP;
            width = Math.max(gridLeft + gridWidth + PAD, title.stringWidth(ImageGrid.this.title) + 2 * PAD);

            int y = PAD;
            if (!ImageGrid.this.title.isEmpty()) {
                titleBaseline = y + title.getAscent();
                y += title.getHeight() + PAD / 2;
            } else {
                titleBaseline = 0;
            }
            rowTop = new int[rows.size()];
            imageTop = new int[rows.size()];
            // Captions may spill a little into the column gap before they wrap.
            int wrapWidth = cellPixels + COL_GAP - 4;
            for (int r = 0; r < rows.size(); r++) {
                List<List<String>> wrapped = new ArrayList<>();
                int lines = 0;
                for (Cell c : rows.get(r).cells) {
                    List<String> w = wrap(c.caption(), caption, wrapWidth);
                    wrapped.add(w);
                    lines = Math.max(lines, w.size());
                }
                captions.add(wrapped);
                rowTop[r] = y;
                imageTop[r] = y + lines * caption.getHeight() + (lines > 0 ? 4 : 0);
                y = imageTop[r] + cellPixels + (showRanges ? 2 + range.getHeight() : 0) + ROW_GAP;
            }
            height = y - ROW_GAP + PAD;
        }

        int cellLeft(int col) {
            return gridLeft + col * (cellPixels + COL_GAP);
        }

        /** Where the pixels of cell (row, col) go: the map scaled into the cell square, centred. */
        Rectangle imageBounds(int row, int col) {
            Cell c = rows.get(row).cells.get(col);
            int side = Math.max(c.h(), c.w());
            int dw = Math.max(1, (int) Math.round((double) c.w() * cellPixels / side));
            int dh = Math.max(1, (int) Math.round((double) c.h() * cellPixels / side));
            return new Rectangle(cellLeft(col) + (cellPixels - dw) / 2, imageTop[row] + (cellPixels - dh) / 2, dw, dh);
        }
    }

    Layout layout() {
        BufferedImage scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = Plots.canvas(scratch);
        try {
            return new Layout(g);
        } finally {
            g.dispose();
        }
    }

    // ------------------------------------------------------------------------------------------- drawing

    public BufferedImage render() {
        Layout lay = layout();
        BufferedImage img = new BufferedImage(lay.width, lay.height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = Plots.canvas(img);
        g.setColor(Color.BLACK);
        if (!title.isEmpty()) {
            g.setFont(TITLE_FONT);
            g.drawString(title, (lay.width - lay.title.stringWidth(title)) / 2, lay.titleBaseline);
        }
        for (int r = 0; r < rows.size(); r++) {
            Row row = rows.get(r);
            drawRowLabel(g, lay, row.label, lay.imageTop[r] + cellPixels / 2);
            for (int c = 0; c < row.cells.size(); c++) {
                Cell cell = row.cells.get(c);
                int centre = lay.cellLeft(c) + cellPixels / 2;
                g.setColor(Color.BLACK);
                g.setFont(CAPTION_FONT);
                List<String> lines = lay.captions.get(r).get(c);
                for (int i = 0; i < lines.size(); i++) {
                    String s = lines.get(i);
                    g.drawString(s, centre - lay.caption.stringWidth(s) / 2,
                            lay.rowTop[r] + i * lay.caption.getHeight() + lay.caption.getAscent());
                }
                Rectangle box = lay.imageBounds(r, c);
                Range range = paint(img, cell, box);
                g.setColor(BORDER);
                g.fillRect(box.x - 1, box.y - 1, box.width + 2, 1);
                g.fillRect(box.x - 1, box.y + box.height, box.width + 2, 1);
                g.fillRect(box.x - 1, box.y, 1, box.height);
                g.fillRect(box.x + box.width, box.y, 1, box.height);
                if (showRanges) {
                    String s = range.text();
                    g.setColor(RANGE_TEXT);
                    g.setFont(RANGE_FONT);
                    g.drawString(s, centre - lay.range.stringWidth(s) / 2,
                            lay.imageTop[r] + cellPixels + 2 + lay.range.getAscent());
                }
            }
        }
        g.dispose();
        return img;
    }

    private static void drawRowLabel(Graphics2D g, Layout lay, String label, int centreY) {
        if (label.isEmpty()) {
            return;
        }
        String[] lines = label.split("\n");
        int lh = lay.label.getHeight();
        int top = centreY - lines.length * lh / 2;
        g.setColor(Color.BLACK);
        g.setFont(LABEL_FONT);
        for (int i = 0; i < lines.length; i++) {
            g.drawString(lines[i], lay.labelRight - lay.label.stringWidth(lines[i]), top + i * lh + lay.label.getAscent());
        }
    }

    /** The finite extremes of a cell, which decide its normalisation and its printed range. */
    record Range(double min, double max, boolean any) {
        static Range of(float[] v) {
            double lo = Double.POSITIVE_INFINITY;
            double hi = Double.NEGATIVE_INFINITY;
            for (float x : v) {
                if (Float.isFinite(x)) {
                    lo = Math.min(lo, x);
                    hi = Math.max(hi, x);
                }
            }
            return new Range(lo, hi, lo <= hi);
        }

        String text() {
            if (!any) {
                return "no finite values";
            }
            return min == max ? "constant " + fmt(min) : "[" + fmt(min) + ", " + fmt(max) + "]";
        }
    }

    /** Normalised position of {@code v} on the colormap; see the class comment for the rules. */
    static double normalise(double v, Range r, Colormap cmap) {
        if (cmap.diverging()) {
            double m = Math.max(Math.abs(r.min), Math.abs(r.max));
            return m > 0 ? 0.5 + 0.5 * v / m : 0.5;
        }
        return r.max > r.min ? (v - r.min) / (r.max - r.min) : 0;
    }

    private static Range paint(BufferedImage img, Cell cell, Rectangle box) {
        Range range = Range.of(cell.values());
        float[] v = cell.values();
        int[] lut = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            lut[i] = Float.isFinite(v[i]) ? cell.cmap().rgb(normalise(v[i], range, cell.cmap())) : NAN_RGB;
        }
        int[] line = new int[box.width];
        for (int y = 0; y < box.height; y++) {
            int sy = (int) ((long) y * cell.h() / box.height);
            for (int x = 0; x < box.width; x++) {
                line[x] = lut[sy * cell.w() + (int) ((long) x * cell.w() / box.width)];
            }
            img.setRGB(box.x, box.y + y, box.width, 1, line, 0, box.width);
        }
        return range;
    }

    /** Greedy word wrap; a word wider than the line is cut with an ellipsis rather than overflowing. */
    static List<String> wrap(String text, FontMetrics fm, int width) {
        List<String> out = new ArrayList<>();
        for (String para : text.split("\n")) {
            StringBuilder line = new StringBuilder();
            for (String word : para.trim().split("\\s+")) {
                if (word.isEmpty()) {
                    continue;
                }
                String candidate = line.length() == 0 ? word : line + " " + word;
                if (fm.stringWidth(candidate) <= width) {
                    line.setLength(0);
                    line.append(candidate);
                } else {
                    if (line.length() > 0) {
                        out.add(line.toString());
                    }
                    line.setLength(0);
                    line.append(ellipsize(word, fm, width));
                }
            }
            if (line.length() > 0) {
                out.add(line.toString());
            }
        }
        return out;
    }

    private static String ellipsize(String word, FontMetrics fm, int width) {
        if (fm.stringWidth(word) <= width) {
            return word;
        }
        int n = word.length();
        while (n > 1 && fm.stringWidth(word.substring(0, n) + "…") > width) {
            n--;
        }
        return word.substring(0, n) + "…";
    }

    /** Three significant digits, plain notation where that stays short. */
    static String fmt(double v) {
        if (v == 0) {
            return "0";
        }
        double a = Math.abs(v);
        if (a >= 1e-3 && a < 1e5) {
            return new BigDecimal(v).round(new MathContext(3)).stripTrailingZeros().toPlainString();
        }
        return String.format(Locale.ROOT, "%.2e", v);
    }

    @Override
    public String toString() {
        return "ImageGrid[" + title + ", rows=" + rows.size() + ", cell=" + cellPixels + "px, "
                + Arrays.toString(rows.stream().mapToInt(r -> r.cells.size()).toArray()) + "]";
    }
}
