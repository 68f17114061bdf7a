package dev.pdecnn.backend.cuda;

import dev.pdecnn.config.Choices;
import dev.pdecnn.config.Choices.MatmulPrecision;

/**
 * The arithmetic of the float32 matrix products on a GPU (convolutions by implicit GEMM, the dense layer):
 * plain fp32 (SIMT kernels, every GPU), or TF32 tensor cores (sm_80 and later: inputs rounded to a 10-bit
 * mantissa, products accumulated in fp32). float64 tensors and every other operation always run in their own
 * precision.
 *
 * <p>The default follows PyTorch's ({@code torch.backends.cudnn.allow_tf32 = True},
 * {@code torch.backends.cuda.matmul.allow_tf32 = False}): TF32 for convolutions on Ampere and later, fp32 for the
 * dense layer and on older GPUs, the CPU and the emulated device. The config key {@code precision} /
 * {@code --precision} overrides it ({@link MatmulPrecision}): {@code tf32} (convolutions and the dense layer) or
 * {@code fp32}.
 */
public enum Precision {
    /** fp32 everywhere. */
    FP32(false, false),
    /** TF32 convolutions, fp32 dense layer: PyTorch's default on sm_80+. */
    TF32_CONV(true, false),
    /** TF32 convolutions and dense layer ({@code --precision tf32}). */
    TF32(true, true);

    private final boolean conv, dense;

    Precision(boolean conv, boolean dense) {
        this.conv = conv;
        this.dense = dense;
    }

    public boolean tf32Conv() {
        return conv;
    }

    public boolean tf32Dense() {
        return dense;
    }

    /** How the user sees it: tf32, fp32, or tf32 for convolutions only. */
    public String describe() {
        return switch (this) {
            case FP32 -> "fp32";
            case TF32_CONV -> "tf32 convolutions, fp32 dense layer (PyTorch's default)";
            case TF32 -> "tf32 convolutions and dense layer";
        };
    }

    /**
     * The precision on {@code runner} for the config value {@code requested} ({@code null}: the default; "tf32";
     * "fp32"). {@link IllegalArgumentException} for another value, or for tf32 on a device without TF32 tensor cores.
     */
    public static Precision resolve(String requested, KernelRunner runner) {
        MatmulPrecision m = Choices.find(MatmulPrecision.class, requested);
        if (requested != null && m == null) {
            throw new IllegalArgumentException("--precision '" + requested + "': expected "
                    + String.join(" or ", Choices.names(MatmulPrecision.values())));
        }
        return forChoice(m, runner);
    }

    /**
     * The precision on {@code runner} for what the config asks ({@code null}: the default). {@link
     * IllegalArgumentException} for tf32 on a device without TF32 tensor cores.
     */
    public static Precision forChoice(MatmulPrecision requested, KernelRunner runner) {
        if (requested == null) {
            return runner.tf32ByDefault() ? TF32_CONV : FP32;
        }
        return switch (requested) {
            case FP32 -> FP32;
            case TF32 -> {
                if (!runner.tf32Capable()) {
                    throw new IllegalArgumentException("--precision tf32: " + runner.description() + " has no TF32 "
                            + "tensor cores (they need compute capability 8.0 or later); use --precision fp32");
                }
                yield TF32;
            }
        };
    }
}
