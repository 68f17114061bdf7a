package dev.pdecnn.nn;

import dev.pdecnn.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Central finite differences in double precision against a module's backward pass.
 *
 * <p>Loss: L = sum(forward(x) * R) for a fixed random R, so backward(R) must return dL/dx and accumulate dL/dw.
 * Tolerance: |analytic - numeric| <= TOL * max(1, |analytic|, |numeric|) with TOL = 1e-6. Justification: with
 * step 1e-6 the central difference has truncation error O(eps^2 f''') ~ 1e-12 and rounding error
 * ~ 1e-16 * |L| / eps ~ 1e-8 for the |L| ~ 100 of these tests, so a correct gradient lands far inside 1e-6,
 * while a wrong term (a missing neighbour, a sign) is off by O(1e-2) or more. A ReLU kink crossed by the
 * perturbation can spoil one difference; such an entry is retried with a 10x smaller step before it fails.
 */
public final class GradCheck {
    public static final double TOL = 1e-6;
    private static final double EPS = 1e-6;

    private GradCheck() {
    }

    public static Tensor random(SplittableRandom r, int... shape) {
        Tensor t = Tensor.zeros(dev.pdecnn.tensor.DType.F64, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, r.nextGaussian());
        }
        return t;
    }

    /** Checks input and parameter gradients of {@code m} at input {@code x}, sampling up to {@code perTensor} entries. */
    public static void check(Module m, Tensor x, long seed, int perTensor) {
        SplittableRandom r = new SplittableRandom(seed);
        m.train(true);
        Tensor y0 = m.forward(x.copy());
        Tensor proj = random(r, y0.shape());
        m.zeroGrad();
        m.forward(x.copy());
        Tensor gx = m.backward(proj.copy());
        Supplier<Double> loss = () -> dot(m.forward(x), proj);
        List<String> errors = new ArrayList<>();
        compare("input", x, gx, loss, r, perTensor, errors);
        for (Map.Entry<String, Param> e : m.namedParams().entrySet()) {
            Param p = e.getValue();
            if (p.trainable) {
                compare(e.getKey(), p.value, p.grad, loss, r, perTensor, errors);
            }
        }
        if (!errors.isEmpty()) {
            fail(errors.size() + " gradient mismatches, first: " + String.join("; ", errors.subList(0, Math.min(5, errors.size()))));
        }
    }

    /** Compares {@code grad} with central differences of {@code loss} in the entries of {@code value}. */
    public static void compare(String name, Tensor value, Tensor grad, Supplier<Double> loss, SplittableRandom r,
                               int samples, List<String> errors) {
        int n = value.size();
        int count = Math.min(n, samples);
        for (int s = 0; s < count; s++) {
            int i = count == n ? s : r.nextInt(n);
            double a = grad.get(i);
            double num = numeric(value, i, loss, EPS);
            if (!close(a, num)) {
                num = numeric(value, i, loss, EPS / 10);
                if (!close(a, num)) {
                    errors.add(name + "[" + i + "] analytic " + a + " numeric " + num);
                }
            }
        }
    }

    private static boolean close(double a, double n) {
        return Math.abs(a - n) <= TOL * Math.max(1, Math.max(Math.abs(a), Math.abs(n)));
    }

    private static double numeric(Tensor t, int i, Supplier<Double> loss, double eps) {
        double old = t.get(i);
        t.set(i, old + eps);
        double lp = loss.get();
        t.set(i, old - eps);
        double lm = loss.get();
        t.set(i, old);
        return (lp - lm) / (2 * eps);
    }

    public static double dot(Tensor a, Tensor b) {
        double s = 0;
        for (int i = 0; i < a.size(); i++) {
            s += a.get(i) * b.get(i);
        }
        return s;
    }
}
