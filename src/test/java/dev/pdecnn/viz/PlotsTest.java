package dev.pdecnn.viz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlotsTest {

    @TempDir
    Path dir;

    static List<Plots.EpochPoint> curve(int epochs) {
        List<Plots.EpochPoint> pts = new ArrayList<>();
        for (int e = 1; e <= epochs; e++) {
            double p = 1 - Math.exp(-e / 8.0);
            pts.add(new Plots.EpochPoint(e, 2.3 * (1 - p) + 0.05, 0.1 + 0.88 * p, 2.3 * (1 - p) + 0.3,
                    0.1 + 0.8 * p - 0.02 * Math.sin(e), 0.01 * 0.5 * (1 + Math.cos(Math.PI * e / epochs))));
        }
        return pts;
    }

    /** Pixels close to a colour; anti-aliasing blends line edges, so exact matches undercount. */
    private static int near(BufferedImage img, int rgb) {
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int p = img.getRGB(x, y);
                int d = Math.abs((p >> 16 & 0xff) - (rgb >> 16 & 0xff)) + Math.abs((p >> 8 & 0xff) - (rgb >> 8 & 0xff))
                        + Math.abs((p & 0xff) - (rgb & 0xff));
                n += d < 40 ? 1 : 0;
            }
        }
        return n;
    }

    @Test
    void trainingCurvesPng() throws IOException {
        Path png = dir.resolve("curves.png");
        Plots.trainingCurves(png, "resnet32_global on CIFAR-10", curve(60));
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img);
        assertEquals(Plots.CURVES_WIDTH, img.getWidth());
        assertEquals(Plots.CURVES_HEIGHT, img.getHeight());
        assertEquals(0xffffff, img.getRGB(2, 2) & 0xffffff);
        assertTrue(near(img, 0x1f77b4) > 300, "train curves drawn");
        assertTrue(near(img, 0xff7f0e) > 300, "test curves drawn");
    }

    @Test
    void missingValuesAndEmptyLogsAreTolerated() throws IOException {
        List<Plots.EpochPoint> pts = new ArrayList<>(curve(5));
        pts.add(new Plots.EpochPoint(6, 0.4, 0.9, Double.NaN, Double.NaN, 0.001));
        Plots.trainingCurves(dir.resolve("nan.png"), "with gaps", pts);
        Plots.trainingCurves(dir.resolve("empty.png"), "no epochs yet", List.of());
        assertNotNull(ImageIO.read(dir.resolve("empty.png").toFile()));
    }

    @Test
    void scatterPng() throws IOException {
        Path png = dir.resolve("scatter.png");
        Plots.scatter(png, "CIFAR-10: accuracy vs MACs", "MACs (millions)", "test accuracy (%)", List.of(
                new Plots.Point("resnet32", 75.09, 93.92),
                new Plots.Point("global (2)", 14.78, 91.27),
                new Plots.Point("global (4) basic", 70.37, 92.73)));
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(Plots.SCATTER_WIDTH, img.getWidth());
        assertEquals(Plots.SCATTER_HEIGHT, img.getHeight());
        assertTrue(near(img, 0x1f77b4) > 3 * 40, "three markers drawn");
    }
}
