package dev.pdecnn.viz;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Rectangle;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageGridTest {

    @TempDir
    Path dir;

    private static float[] ramp(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) Math.sin(i * 0.1) * i;
        }
        return v;
    }

    private static int rgb(BufferedImage img, int x, int y) {
        return img.getRGB(x, y) & 0xffffff;
    }

    @Test
    void savesReadablePngOfLayoutSize() throws IOException {
        int cell = 84;
        ImageGrid grid = new ImageGrid("PDE feature maps", cell);
        for (String row : List.of("digit 3", "digit 7")) {
            grid.addRow(row, List.of(
                    new ImageGrid.Cell("input", ramp(784), 28, 28, Colormap.GRAY),
                    new ImageGrid.Cell("conv", ramp(784), 28, 28, Colormap.VIRIDIS),
                    new ImageGrid.Cell("PDE velocity", ramp(784), 28, 28, Colormap.DIVERGING)));
        }
        Path png = dir.resolve("fig/grid.png");
        grid.save(png);
        BufferedImage read = ImageIO.read(png.toFile());
        assertNotNull(read);
        ImageGrid.Layout lay = grid.layout();
        assertEquals(lay.width, read.getWidth());
        assertEquals(lay.height, read.getHeight());
        assertTrue(read.getWidth() > 3 * cell && read.getHeight() > 2 * cell);
        // Every image lies inside the canvas, right of the row labels and below the title.
        for (int r = 0; r < 2; r++) {
            for (int c = 0; c < 3; c++) {
                Rectangle b = lay.imageBounds(r, c);
                assertEquals(new Rectangle(b.x, b.y, cell, cell), b);
                assertTrue(b.x > lay.labelRight && b.y > lay.titleBaseline);
                assertTrue(b.x + b.width < read.getWidth() && b.y + b.height < read.getHeight());
            }
        }
    }

    @Test
    void maximumGetsTheMapsTopColourAndMinimumItsBottom() {
        for (Colormap cmap : Colormap.values()) {
            float[] v = new float[16];
            Arrays.fill(v, 1f);
            v[1 * 4 + 2] = 5f;   // max at (row 1, col 2)
            v[3 * 4 + 0] = -1f;  // min at (row 3, col 0)
            ImageGrid grid = new ImageGrid("", 40).addRow("", List.of(new ImageGrid.Cell("c", v, 4, 4, cmap)));
            BufferedImage img = grid.render();
            Rectangle b = grid.layout().imageBounds(0, 0);
            assertEquals(40, b.width);
            // Nearest neighbour: source pixel (1, 2) covers the 10x10 block at (20..29, 10..19).
            for (int dy : new int[] {0, 9}) {
                for (int dx : new int[] {0, 9}) {
                    assertEquals(cmap.maxRgb(), rgb(img, b.x + 20 + dx, b.y + 10 + dy), cmap + " max");
                }
            }
            int min = rgb(img, b.x + 5, b.y + 35);
            if (cmap.diverging()) {
                // Scaled by max |v| = 5: -1 is a light blue, not the darkest one.
                assertEquals(cmap.rgb(0.5 - 0.5 / 5), min);
            } else {
                assertEquals(cmap.minRgb(), min, cmap + " min");
            }
        }
    }

    @Test
    void constantAndNonFiniteMapsDoNotBreak() {
        float[] three = new float[9];
        Arrays.fill(three, 3f);
        float[] zero = new float[9];
        float[] negative = new float[9];
        Arrays.fill(negative, -2f);
        float[] bad = {Float.NaN, 1f, 2f, Float.POSITIVE_INFINITY, 1f, 1f, 1f, 1f, 1f};
        ImageGrid grid = new ImageGrid("t", 30).addRow("r", List.of(
                new ImageGrid.Cell("const", three, 3, 3, Colormap.GRAY),
                new ImageGrid.Cell("zero", zero, 3, 3, Colormap.DIVERGING),
                new ImageGrid.Cell("neg", negative, 3, 3, Colormap.DIVERGING),
                new ImageGrid.Cell("nan", bad, 3, 3, Colormap.VIRIDIS),
                new ImageGrid.Cell("allnan", new float[] {Float.NaN}, 1, 1, Colormap.GRAY)));
        BufferedImage img = grid.render();
        ImageGrid.Layout lay = grid.layout();
        int[] expected = {Colormap.GRAY.minRgb(), 0xffffff, Colormap.DIVERGING.minRgb(), ImageGrid.NAN_RGB, ImageGrid.NAN_RGB};
        for (int c = 0; c < expected.length; c++) {
            Rectangle b = lay.imageBounds(0, c);
            assertEquals(expected[c], rgb(img, b.x + 1, b.y + 1), "cell " + c);
        }
        Rectangle b = lay.imageBounds(0, 3);
        assertEquals(Colormap.VIRIDIS.maxRgb(), rgb(img, b.x + 25, b.y + 1)); // 2 is the finite max
    }

    @Test
    void nonSquareMapsKeepTheirAspect() {
        ImageGrid grid = new ImageGrid("wide", 56).addRow("row", List.of(
                new ImageGrid.Cell("7x28", ramp(7 * 28), 7, 28, Colormap.GRAY),
                new ImageGrid.Cell("28x14", ramp(28 * 14), 28, 14, Colormap.GRAY)));
        grid.render();
        ImageGrid.Layout lay = grid.layout();
        Rectangle a = lay.imageBounds(0, 0);
        Rectangle b = lay.imageBounds(0, 1);
        assertEquals(56, a.width);
        assertEquals(14, a.height);
        assertEquals(28, b.width);
        assertEquals(56, b.height);
    }

    @Test
    void cellsFromTensors() {
        Tensor t = Tensor.zeros(DType.F64, 2, 3, 2, 2);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, i);
        }
        ImageGrid.Cell c = ImageGrid.Cell.plane("x", t, 1, 2, Colormap.GRAY);
        assertArrayEquals(new float[] {20, 21, 22, 23}, c.values());
        ImageGrid.Cell d = ImageGrid.Cell.of("y", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), Colormap.GRAY);
        assertEquals(2, d.h());
        assertEquals(3, d.w());
        assertThrows(IllegalArgumentException.class, () -> ImageGrid.Cell.plane("x", t, 2, 0, Colormap.GRAY));
        assertThrows(IllegalArgumentException.class, () -> new ImageGrid.Cell("bad", new float[5], 2, 3, Colormap.GRAY));
    }

    @Test
    void captionsWrapAndLongWordsAreCut() {
        BufferedImage scratch = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        FontMetrics fm = scratch.createGraphics().getFontMetrics(new Font(Font.SANS_SERIF, Font.PLAIN, 14));
        List<String> lines = ImageGrid.wrap("PDE feature map after five steps", fm, 100);
        assertTrue(lines.size() > 1, lines.toString());
        for (String l : lines) {
            assertTrue(fm.stringWidth(l) <= 100, l);
        }
        List<String> cut = ImageGrid.wrap("supercalifragilisticexpialidocious", fm, 60);
        assertEquals(1, cut.size());
        assertTrue(cut.get(0).endsWith("…") && fm.stringWidth(cut.get(0)) <= 60, cut.toString());
        assertEquals(List.of(), ImageGrid.wrap("", fm, 60));
    }

    @Test
    void rangeLabels() {
        assertEquals("0", ImageGrid.fmt(0));
        assertEquals("1.23", ImageGrid.fmt(1.23456));
        assertEquals("-0.5", ImageGrid.fmt(-0.5));
        assertEquals("12300", ImageGrid.fmt(12345));
        assertEquals("1.23e-05", ImageGrid.fmt(1.2345e-5));
        assertEquals("[-1, 2.5]", ImageGrid.Range.of(new float[] {-1, 2.5f, Float.NaN}).text());
        assertEquals("constant 3", ImageGrid.Range.of(new float[] {3, 3}).text());
    }

    @Test
    void emptyGridStillRenders() throws IOException {
        Path png = dir.resolve("empty.png");
        new ImageGrid("nothing yet", 32).save(png);
        assertTrue(Files.size(png) > 0);
        assertNotNull(ImageIO.read(png.toFile()));
    }
}
