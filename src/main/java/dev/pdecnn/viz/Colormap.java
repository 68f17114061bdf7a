package dev.pdecnn.viz;

/**
 * Maps a normalised value to an RGB colour. {@link #GRAY} and {@link #VIRIDIS} are sequential (t in [0, 1],
 * low to high); {@link #DIVERGING} is blue-white-red with white at t = 0.5, meant for signed data centred
 * on zero (see {@link ImageGrid} for how values are normalised).
 */
public enum Colormap {
    GRAY(new int[] {0x000000, 0xffffff}),
    /** Matplotlib's viridis at 9 evenly spaced stops: perceptually uniform and readable in greyscale print. */
    VIRIDIS(new int[] {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c, 0x28ae80, 0x5ec962, 0xaddc30, 0xfde725}),
    /** ColorBrewer RdBu ends with a pure white centre, so exact zeros read as "nothing here". */
    DIVERGING(new int[] {0x2166ac, 0x92c5de, 0xffffff, 0xf4a582, 0xb2182b});

    private final int[] stops;

    Colormap(int[] stops) {
        this.stops = stops;
    }

    public boolean diverging() {
        return this == DIVERGING;
    }

    /** Colour for {@code t} in [0, 1] (clamped) as 0xRRGGBB, linearly interpolated between stops. */
    public int rgb(double t) {
        double c = Double.isNaN(t) ? 0 : Math.min(1, Math.max(0, t));
        double pos = c * (stops.length - 1);
        int i = Math.min((int) pos, stops.length - 2);
        double f = pos - i;
        int a = stops[i];
        int b = stops[i + 1];
        return lerp(a >> 16, b >> 16, f) << 16 | lerp(a >> 8, b >> 8, f) << 8 | lerp(a, b, f);
    }

    /** Colour of the largest value: what a cell's maximum is drawn in (for diverging maps, if positive). */
    public int maxRgb() {
        return stops[stops.length - 1];
    }

    public int minRgb() {
        return stops[0];
    }

    private static int lerp(int a, int b, double f) {
        int x = a & 0xff;
        int y = b & 0xff;
        return (int) Math.round(x + (y - x) * f);
    }
}
