package dev.pdecnn.selfcheck;

import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * How a device's result is compared with the float64 CPU reference: the measures, the tolerances and the random
 * inputs that the kernel equality suite (src/test/.../cuda) and the device check ({@link DeviceCheck}) share, so a
 * user's GPU is held to exactly what the tests justify.
 *
 * <p>Two measures of the worst element:
 * <ul>
 *   <li>{@link #relative}: |got - ref| / |ref|, for work that is one rounding per element (ReLU, Perona–Malik's
 *   diffusivity, the pooling gradient);</li>
 *   <li>{@link #scaled}: |got - ref| / (|ref| + rms(ref)), for sums, stencils and reductions, whose terms may
 *   cancel: the error of a sum is relative to its terms, which the tensor's RMS stands for.</li>
 * </ul>
 * A NaN anywhere in the result counts as an infinite error.
 */
public final class Compare {
    /**
     * float32 kernels against the float64 reference: a few float32 roundings (2^-24 = 6e-8 each) per operation,
     * accumulated over sums of up to a few thousand terms in another order than the reference's; observed at most
     * about 1e-6 on the suite's cases, so 1e-5 holds with margin and still catches any wrong index or missing term
     * (those give errors of order 1).
     */
    public static final double F32_TOL = 1e-5;
    /** float64 kernels against the float64 reference: only the operation order differs. */
    public static final double F64_TOL = 1e-12;
    /**
     * TF32 kernels against the double reference on TF32-rounded inputs: each product of two TF32 values is exact
     * in float, so only the float accumulation differs from the reference, in another order (16 x 16 x 8
     * fragments summed per k-slab instead of one long loop; on a GPU the tensor cores' own adder tree). That is
     * the error budget of the fp32 kernels, F32_TOL; 2x of it leaves room for a tensor core's accumulation, which
     * is not specified to round like sequential IEEE float additions. Rounding the inputs or not moves results by
     * about 2^-11 relative per product, far beyond this, which is how the check knows the tensor cores ran.
     */
    public static final double TF32_TOL = 2e-5;

    private Compare() {
    }

    public static double tol(DType t) {
        return t == DType.F32 ? F32_TOL : F64_TOL;
    }

    /** A pair of tensors with the same float-representable values: [0] F32, [1] F64. */
    public static Tensor[] pair(SplittableRandom r, double scale, double offset, boolean abs, int... shape) {
        Tensor a = Tensor.zeros(DType.F32, shape), b = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < a.size(); i++) {
            double v = r.nextGaussian() * scale;
            float f = (float) ((abs ? Math.abs(v) : v) + offset);
            a.set(i, f);
            b.set(i, f);
        }
        return new Tensor[]{a, b};
    }

    /** Standard normal values (float-representable) as an F32 and an F64 tensor. */
    public static Tensor[] pair(SplittableRandom r, int... shape) {
        return pair(r, 1, 0, false, shape);
    }

    /** The tensor of the pair for a dtype (null stays null). */
    public static Tensor of(Tensor[] pair, DType t) {
        return pair == null ? null : pair[t == DType.F32 ? 0 : 1];
    }

    public static double rms(Tensor t) {
        t.download();
        double s = 0;
        for (int i = 0; i < t.size(); i++) {
            s += t.get(i) * t.get(i);
        }
        return t.size() == 0 ? 0 : Math.sqrt(s / t.size());
    }

    /** max_i |got_i - ref_i| / (|ref_i| + rms(ref)); infinite for a NaN or a size mismatch. */
    public static double scaled(Tensor ref, Tensor got) {
        return worst(ref, got, true);
    }

    /** max_i |got_i - ref_i| / |ref_i|; infinite for a NaN or a size mismatch. */
    public static double relative(Tensor ref, Tensor got) {
        return worst(ref, got, false);
    }

    /** The index of the worst element under the measure (for messages), or -1 when sizes differ. */
    public static int worstIndex(Tensor ref, Tensor got, boolean scaled) {
        if (ref.size() != got.size()) {
            return -1;
        }
        got.download(); // the device's result, read on the host explicitly
        double floor = scaled ? rms(ref) : 0, worst = -1;
        int at = 0;
        for (int i = 0; i < ref.size(); i++) {
            double e = ratio(ref.get(i), got.get(i), floor);
            if (e > worst) {
                worst = e;
                at = i;
            }
        }
        return at;
    }

    private static double worst(Tensor ref, Tensor got, boolean scaled) {
        if (ref.size() != got.size()) {
            return Double.POSITIVE_INFINITY;
        }
        got.download();
        double floor = scaled ? rms(ref) : 0, worst = 0;
        for (int i = 0; i < ref.size(); i++) {
            worst = Math.max(worst, ratio(ref.get(i), got.get(i), floor));
        }
        return worst;
    }

    private static double ratio(double ref, double got, double floor) {
        double err = Math.abs(ref - got);
        if (err == 0) {
            return 0;
        }
        double r = err / (Math.abs(ref) + floor + 1e-300);
        return Double.isNaN(r) ? Double.POSITIVE_INFINITY : r;
    }

    /** Round to nearest TF32 (10-bit mantissa), ties away from zero, as cvt.rna.tf32.f32 / wmma::__float_to_tf32. */
    public static float tf32(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7f800000) != 0x7f800000) {
            u = (u + 0x1000) & 0xffffe000;
        }
        return Float.intBitsToFloat(u);
    }

    /** A copy of {@code t} (float-representable values) with every element rounded to TF32. */
    public static Tensor tf32(Tensor t) {
        Tensor r = Tensor.zeros(t.dtype(), t.shape());
        for (int i = 0; i < t.size(); i++) {
            r.set(i, tf32((float) t.get(i)));
        }
        return r;
    }
}
