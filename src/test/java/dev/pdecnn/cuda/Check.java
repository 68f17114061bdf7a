package dev.pdecnn.cuda;

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
    /** Float kernels against the double reference. */
    static final double F32_TOL = 1e-5;
    /** Double kernels against the double reference: only the operation order differs. */
    static final double F64_TOL = 1e-12;

    private Check() {
    }

    static double tol(DType t) {
        return t == DType.F32 ? F32_TOL : F64_TOL;
    }

    /** A pair of tensors with the same float-representable values: [0] F32, [1] F64. */
    static Tensor[] pair(SplittableRandom r, double scale, double offset, boolean abs, int... shape) {
        Tensor a = Tensor.zeros(DType.F32, shape), b = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < a.size(); i++) {
            double v = r.nextGaussian() * scale;
            float f = (float) ((abs ? Math.abs(v) : v) + offset);
            a.set(i, f);
            b.set(i, f);
        }
        return new Tensor[]{a, b};
    }

    static Tensor[] pair(SplittableRandom r, int... shape) {
        return pair(r, 1, 0, false, shape);
    }

    /** The tensor of the pair for a dtype (null stays null). */
    static Tensor of(Tensor[] pair, DType t) {
        return pair == null ? null : pair[t == DType.F32 ? 0 : 1];
    }

    /** A zero tensor of the given shape, or the copy of {@code src} for accumulated outputs. */
    static Tensor like(Tensor ref, DType t) {
        return ref == null ? null : Tensor.zeros(t, ref.shape());
    }

    static double rms(Tensor t) {
        double s = 0;
        for (int i = 0; i < t.size(); i++) {
            s += t.get(i) * t.get(i);
        }
        return t.size() == 0 ? 0 : Math.sqrt(s / t.size());
    }

    /**
     * TF32 kernels against the double reference on TF32-rounded inputs: each product of two TF32 values is exact
     * in float, so only the float accumulation differs from the reference, in another order (16 x 16 x 8
     * fragments summed per k-slab instead of one long loop; on a GPU the tensor cores' own adder tree). That is
     * the error budget of the fp32 kernels, F32_TOL; 2x of it leaves room for a tensor core's accumulation, which
     * is not specified to round like sequential IEEE float additions. Rounding the inputs or not moves results by
     * about 2^-11 relative per product, far beyond this: see {@link #worstScaled}.
     */
    static final double TF32_TOL = 2e-5;

    /** Round to nearest TF32 (10-bit mantissa), ties away from zero, as cvt.rna.tf32.f32 / wmma::__float_to_tf32. */
    static float tf32(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7f800000) != 0x7f800000) {
            u = (u + 0x1000) & 0xffffe000;
        }
        return Float.intBitsToFloat(u);
    }

    /** A copy of {@code t} (float-representable values) with every element rounded to TF32. */
    static Tensor tf32(Tensor t) {
        Tensor r = Tensor.zeros(t.dtype(), t.shape());
        for (int i = 0; i < t.size(); i++) {
            r.set(i, tf32((float) t.get(i)));
        }
        return r;
    }

    /** max_i |got_i - ref_i| / (|ref_i| + rms(ref)): the measure {@link #scaled} bounds. */
    static double worstScaled(Tensor ref, Tensor got) {
        got.download();
        double floor = rms(ref), worst = 0;
        for (int i = 0; i < ref.size(); i++) {
            worst = Math.max(worst, Math.abs(ref.get(i) - got.get(i)) / (Math.abs(ref.get(i)) + floor + 1e-300));
        }
        return worst;
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
