package dev.pdecnn.backend.cpu;

/**
 * Which kernels run a float32 convolution of a given shape on the fast CPU backend: oneDNN ({@link OneDnnConv})
 * or the built-in ones ({@link ConvOps}: row GEMMs, OpenBLAS, the depthwise plane kernels).
 *
 * <p>The choice is a fixed rule from measurement, not a timing taken at run time, so that a run and its resume
 * take the same path and give the same bits. oneDNN's kernels work on blocks of 16 channels and pay for copying
 * every operand into native memory in their blocked layout; with fewer than 16 output channels per group (the
 * MNIST models' 1 and 8; a depthwise convolution counts its channels) the blocks are mostly padding and the
 * built-in kernels are 1.2-10x faster. Everything else goes to oneDNN: whole training steps of resnet32 and
 * resnet32_global were fastest so, even though timed alone ({@code bench --convs}) the built-in kernels win a
 * few shapes with little work per copied element (the 3-channel stem, 1x1 and depthwise convolutions on large
 * planes); docs/benchmarks.md has both measurements.
 */
enum ConvPath {
    ONEDNN, BUILTIN;

    /** Output channels per group (channels, for a depthwise convolution) below which the built-in kernels run. */
    static final int MIN_CHANNELS = 16;

    static ConvPath of(ConvOps.Geom g) {
        String mode = OneDnn.mode();
        if (!OneDnn.available() || mode.equals("builtin")) {
            return BUILTIN;
        }
        if (mode.equals("onednn")) {
            return ONEDNN;
        }
        boolean depthwise = g.groups == g.c && g.cg == 1 && g.cog == 1;
        return (depthwise ? g.c : g.cog) < MIN_CHANNELS ? BUILTIN : ONEDNN;
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
