package dev.pdecnn.cuda;

import dev.pdecnn.selfcheck.Compare;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Random inputs and the element-by-element comparisons of the equality suite.
 *
 * <p>Inputs are drawn as float values and copied into an F32 and an F64 tensor, so both kernel builds see the
 * same numbers and the double-precision CPU reference computes the exact result for them.
 *
 * <p>Two tolerances:
 * <ul>
 *   <li>{@link #elementwise}: |got - ref| <= rtol |ref|, for work that is one rounding per element;</li>
 *   <li>{@link #scaled}: |got - ref| <= rtol (|ref| + rms(ref)), for sums, stencils and reductions, whose
 *   terms may cancel: the error of a sum is relative to its terms, which the tensor's RMS stands for.</li>
 * </ul>
 */
final class Check {
    /** Float kernels against the double reference (the device check's tolerance: {@link Compare#F32_TOL}). */
    static final double F32_TOL = Compare.F32_TOL;
    /** Double kernels against the double reference: only the operation order differs. */
    static final double F64_TOL = Compare.F64_TOL;

    private Check() {
    }

    static double tol(DType t) {
        return Compare.tol(t);
    }

    /** A pair of tensors with the same float-representable values: [0] F32, [1] F64. */
    static Tensor[] pair(SplittableRandom r, double scale, double offset, boolean abs, int... shape) {
        return Compare.pair(r, scale, offset, abs, shape);
    }

    static Tensor[] pair(SplittableRandom r, int... shape) {
        return Compare.pair(r, shape);
    }

    /** The tensor of the pair for a dtype (null stays null). */
    static Tensor of(Tensor[] pair, DType t) {
        return Compare.of(pair, t);
    }

    /** A zero tensor of the given shape, or the copy of {@code src} for accumulated outputs. */
    static Tensor like(Tensor ref, DType t) {
        return ref == null ? null : Tensor.zeros(t, ref.shape());
    }

    static double rms(Tensor t) {
        return Compare.rms(t);
    }

    /** TF32 kernels against the double reference on TF32-rounded inputs: see {@link Compare#TF32_TOL}. */
    static final double TF32_TOL = Compare.TF32_TOL;

    static float tf32(float f) {
        return Compare.tf32(f);
    }

    static Tensor tf32(Tensor t) {
        return Compare.tf32(t);
    }

    /** max_i |got_i - ref_i| / (|ref_i| + rms(ref)): the measure {@link #scaled} bounds. */
    static double worstScaled(Tensor ref, Tensor got) {
        return Compare.scaled(ref, got);
    }

    static void elementwise(String what, Tensor ref, Tensor got, double rtol) {
        compare(what, ref, got, rtol, false);
    }

    static void scaled(String what, Tensor ref, Tensor got, double rtol) {
        compare(what, ref, got, rtol, true);
    }

    private static void compare(String what, Tensor ref, Tensor got, double rtol, boolean scaled) {
        got.download(); // the device's result, read on the host explicitly
        assertEquals(ref.size(), got.size(), what + ": size");
        double floor = scaled ? rms(ref) : 0;
        int bad = 0, worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < ref.size(); i++) {
            double a = ref.get(i), b = got.get(i);
            double allowed = rtol * (Math.abs(a) + floor) + 1e-300;
            double err = Math.abs(a - b);
            if (!(err <= allowed)) {
                bad++;
            }
            double ratio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : err / allowed;
            if (ratio > worstRatio || worst < 0) {
                worstRatio = ratio;
                worst = i;
            }
        }
        if (bad > 0) {
            fail(String.format("%s: %d of %d elements differ beyond %s tolerance %.1e; worst [%d] ref %.17g got %.17g",
                    what, bad, ref.size(), scaled ? "scaled" : "relative", rtol, worst, ref.get(worst), got.get(worst)));
        }
    }
}
