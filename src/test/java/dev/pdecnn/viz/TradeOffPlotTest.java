package dev.pdecnn.viz;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TradeOffPlotTest {
    private static TradeOffPlot.Point at(double x) {
        return new TradeOffPlot.Point("p" + x, x, 90, 1, Double.NaN, Double.NaN);
    }

    @Test
    void equalMacsAreSpreadSymmetricallyAndDistinctOnesStay() {
        // Three at 14.6 (one cluster), one at 512 (alone); max x 512, so steps of 0.02 * 512 = 10.24
        // (1e-9: the rounding of 0.02 in binary, far below anything visible).
        double[] dx = TradeOffPlot.dodge(List.of(at(14.6), at(512), at(14.6), at(14.6)));
        assertArrayEquals(new double[]{-10.24, 0, 0, 10.24}, dx, 1e-9);
        // Within 1.5% of the largest x counts as equal (Table 2 rows 2 and 5: 14.78M and 14.26M of 75M).
        dx = TradeOffPlot.dodge(List.of(at(14.78), at(14.26), at(75.09)));
        assertEquals(-dx[0], dx[1], 1e-12);
        assertEquals(0, dx[2]);
    }

    @Test
    void onePanelPerDataSetStacked() {
        TradeOffPlot.Panel p = new TradeOffPlot.Panel("t", "x", "y", List.of(at(1), at(2)));
        BufferedImage img = TradeOffPlot.render(List.of(p, p, p));
        assertEquals(TradeOffPlot.WIDTH, img.getWidth());
        assertEquals(3 * TradeOffPlot.PANEL_HEIGHT, img.getHeight());
    }
}
