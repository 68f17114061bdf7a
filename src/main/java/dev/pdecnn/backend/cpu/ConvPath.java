package dev.pdecnn.backend.cpu;

/**
 * Which kernels run a float32 convolution of a given shape on the fast CPU backend: oneDNN ({@link OneDnnConv})
 * or the built-in ones ({@link ConvOps}: row GEMMs, OpenBLAS, the depthwise plane kernels).
 *
 * <p>The choice is a fixed rule from measurement, not a timing taken at run time, so that a run and its resume
 * take the same path and give the same bits. oneDNN pays for copying every operand into native memory and
 * reordering it into its blocked layout, so it wins where a convolution does much work per element copied:
 * <ul>
 *   <li>fewer than 16 input or output channels per group (the MNIST models, the CIFAR stem): built-in, since
 *       oneDNN pads the channels to its blocks of 16 (0.1-1.0x of the built-in speed);
 *   <li>1x1 and depthwise convolutions on planes of 16 x 16 and more: built-in (0.5-1.0x);
 *   <li>everything else, from 16 channels up: oneDNN (1.0-2.8x; 16 channels at 32 x 32 is even).
 * </ul>
 * The measurement is {@code bench --convs}, which times every shape of the models on both paths and shows
 * this rule's choice beside them; docs/benchmarks.md has the table of the 2-core development machine.
 */
enum ConvPath {
    ONEDNN, BUILTIN;

    /** Channels per group below which a convolution stays built-in. */
    static final int MIN_CHANNELS = 16;
    /** Pixels per plane from which 1x1 and depthwise convolutions stay built-in. */
    static final int LIGHT_BUILTIN_MIN_PLANE = 16 * 16;

    static ConvPath of(ConvOps.Geom g) {
        String mode = OneDnn.mode();
        if (!OneDnn.available() || mode.equals("builtin")) {
            return BUILTIN;
        }
        if (mode.equals("onednn")) {
            return ONEDNN;
        }
        boolean depthwise = g.groups == g.c && g.cg == 1 && g.cog == 1;
        if (!depthwise && (g.cg < MIN_CHANNELS || g.cog < MIN_CHANNELS)) {
            return BUILTIN;
        }
        boolean light = depthwise || g.kh * g.kw == 1;
        return light && g.h * g.w >= LIGHT_BUILTIN_MIN_PLANE ? BUILTIN : ONEDNN;
    }

    /**
     * For logs and bench: "oneDNN 3.11.0 (auto), else OpenBLAS (...)", "oneDNN 3.11.0 (onednn)" or the built-in
     * kernels' GEMM ({@link Blas#describe}) with the reason oneDNN is not used.
     */
    static String describe() {
        String mode = OneDnn.mode();
        if (!OneDnn.available() || mode.equals("builtin")) {
            return Blas.describe() + (mode.equals("builtin") ? "" : "; " + OneDnn.describe());
        }
        return OneDnn.describe() + (mode.equals("auto") ? ", else " + Blas.describe() : "");
    }

    /** Lower-case name for logs and bench: onednn or builtin. */
    String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
