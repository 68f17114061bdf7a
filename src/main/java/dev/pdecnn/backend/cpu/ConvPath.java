package dev.pdecnn.backend.cpu;

/**
 * Which kernels run a float32 convolution of a given shape on the fast CPU backend: oneDNN ({@link OneDnnConv})
 * or the built-in ones ({@link ConvOps}: row GEMMs, OpenBLAS, the depthwise plane kernels).
 *
 * <p>The choice is a fixed rule from measurement, not a timing taken at run time, so that a run and its resume
 * take the same path and give the same bits. Measured with {@code bench -Dpdecnn.bench.profile=true} on the
 * project's 2-core machine (docs/benchmarks.md, "Convolutions: oneDNN or built-in"): oneDNN, copies and
 * reorders included, is faster for every full, strided, 1x1 and grouped convolution of the models, and for the
 * depthwise 3x3 convolutions of the Global layer on planes up to 16x16; on larger planes the built-in depthwise
 * kernels, which read NCHW in place, are faster than copying and reordering the tensors for oneDNN.
 */
enum ConvPath {
    ONEDNN, BUILTIN;

    /** From this many pixels per plane a depthwise convolution stays built-in (auto mode). */
    static final int DEPTHWISE_BUILTIN_MIN_PLANE = 32 * 32;

    static ConvPath of(ConvOps.Geom g) {
        String mode = OneDnn.mode();
        if (!OneDnn.available() || mode.equals("builtin")) {
            return BUILTIN;
        }
        if (mode.equals("onednn")) {
            return ONEDNN;
        }
        boolean depthwise = g.groups == g.c && g.cg == 1 && g.cog == 1;
        return depthwise && g.h * g.w >= DEPTHWISE_BUILTIN_MIN_PLANE ? BUILTIN : ONEDNN;
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
