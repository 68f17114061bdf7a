package dev.pdecnn.backend.reference;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every backward operation of the {@link ReferenceBackend}, op by op, against central finite differences of its own
 * forward operation in float64 (the layer and network checks in dev.pdecnn.nn and dev.pdecnn.models then build on
 * these). Loss: sum(out * R) for a fixed random R, so the backward called with R must give dLoss/dinput.
 * Tolerance as {@code dev.pdecnn.nn.GradCheck}: |analytic - numeric| <= 1e-6 max(1, |analytic|, |numeric|), step
 * 1e-6 (truncation ~1e-12, rounding ~1e-16 |loss| / 1e-6 ~ 1e-9 here); a wrong term is off by 1e-2 or more.
 */
class ReferenceGradientTest {
    private static final double EPS = 1e-6, TOL = 1e-6;
    private final ReferenceBackend be = new ReferenceBackend();
    private final SplittableRandom r = new SplittableRandom(11);

    private Tensor random(double shift, double scale, int... shape) {
        Tensor t = Tensor.zeros(DType.F64, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, shift + scale * r.nextGaussian());
        }
        return t;
    }

    private Tensor random(int... shape) {
        return random(0, 1, shape);
    }

    private static double dot(Tensor a, Tensor b) {
        double s = 0;
        for (int i = 0; i < a.size(); i++) {
            s += a.get(i) * b.get(i);
        }
        return s;
    }

    /** Compares every element of {@code analytic} with the central difference of {@code loss} in {@code input}. */
    private static void check(String what, Tensor input, Tensor analytic, DoubleSupplier loss) {
        for (int i = 0; i < input.size(); i++) {
            double x = input.get(i);
            input.set(i, x + EPS);
            double lp = loss.getAsDouble();
            input.set(i, x - EPS);
            double lm = loss.getAsDouble();
            input.set(i, x);
            double num = (lp - lm) / (2 * EPS), a = analytic.get(i);
            if (!(Math.abs(a - num) <= TOL * Math.max(1, Math.max(Math.abs(a), Math.abs(num))))) {
                fail(what + "[" + i + "]: analytic " + a + ", finite difference " + num);
            }
        }
    }

    @Test
    void convolution() {
        // grouped and strided; depthwise; a non-square kernel whose output is larger than the input
        Object[][] cases = {
                {new ConvSpec(2, 1, 2), new int[] {2, 4, 6, 7}, new int[] {6, 2, 3, 3}},
                {new ConvSpec(1, 1, 3), new int[] {2, 3, 5, 6}, new int[] {3, 1, 3, 3}},
                {new ConvSpec(1, 1, 1), new int[] {1, 3, 4, 5}, new int[] {4, 3, 2, 3}},
        };
        for (Object[] c : cases) {
            ConvSpec s = (ConvSpec) c[0];
            int[] xs = (int[]) c[1], ws = (int[]) c[2];
            Tensor x = random(xs), w = random(ws);
            Tensor y = Tensor.zeros(DType.F64, xs[0], ws[0], s.outSize(xs[2], ws[2]), s.outSize(xs[3], ws[3]));
            Tensor rr = random(y.shape()), gx = random(xs), gw = Tensor.zeros(DType.F64, ws);
            be.conv2dBackward(x, w, rr, gx, gw, s);
            DoubleSupplier loss = () -> {
                be.conv2dForward(x, w, y, s);
                return dot(y, rr);
            };
            check("conv " + s + " gx", x, gx, loss);
            check("conv " + s + " gw", w, gw, loss);
        }
    }

    @Test
    void batchNorm() {
        int c = 3;
        Tensor x = random(2, 1.5, 3, c, 2, 5), gamma = random(1, 0.3, c), beta = random(c), rr = random(3, c, 2, 5);
        Tensor y = x.zerosLike(), rm = Tensor.zeros(DType.F64, c), rv = Tensor.zeros(DType.F64, c);
        Tensor sm = Tensor.zeros(DType.F64, c), si = Tensor.zeros(DType.F64, c);
        DoubleSupplier loss = () -> {
            be.batchNormTrain(x, gamma, beta, rm, rv, 0.1, 1e-3, y, sm, si);
            return dot(y, rr);
        };
        loss.getAsDouble();
        Tensor gx = random(x.shape()), gg = Tensor.zeros(DType.F64, c), gb = Tensor.zeros(DType.F64, c);
        be.batchNormBackward(x, rr, gamma, sm, si, gx, gg, gb);
        check("batch norm gx", x, gx, loss);
        check("batch norm gGamma", gamma, gg, loss);
        check("batch norm gBeta", beta, gb, loss);
    }

    @Test
    void reluPoolingDenseAndLoss() {
        Tensor x = random(2, 3, 4, 6);
        for (int i = 0; i < x.size(); i++) { // keep away from the kink
            x.set(i, x.get(i) + Math.copySign(0.1, x.get(i)));
        }
        Tensor y = x.zerosLike(), rr = random(x.shape()), gx = random(x.shape());
        be.relu(x, y);
        be.reluBackward(y, rr, gx);
        check("relu", x, gx, () -> {
            be.relu(x, y);
            return dot(y, rr);
        });

        Tensor p = Tensor.zeros(DType.F64, 2, 3, 2, 3), rp = random(p.shape()), gp = random(x.shape());
        be.avgPoolBackward(rp, 2, gp);
        check("average pooling", x, gp, () -> {
            be.avgPool(x, 2, p);
            return dot(p, rp);
        });

        Tensor w = random(5, 72), b = random(5), d = Tensor.zeros(DType.F64, 2, 5), rd = random(2, 5);
        Tensor gxd = random(x.shape()), gw = Tensor.zeros(DType.F64, 5, 72), gb = Tensor.zeros(DType.F64, 5);
        be.denseBackward(x, w, rd, gxd, gw, gb);
        DoubleSupplier dl = () -> {
            be.dense(x, w, b, d);
            return dot(d, rd);
        };
        check("dense gx", x, gxd, dl);
        check("dense gw", w, gw, dl);
        check("dense gb", b, gb, dl);

        Tensor logits = random(0.0, 2.0, 4, 7), gl = random(4, 7);
        int[] labels = {3, 0, 6, 2};
        be.softmaxCrossEntropy(logits, labels, gl, null);
        check("softmax cross-entropy", logits, gl, () -> be.softmaxCrossEntropy(logits, labels, null, null));
    }

    @Test
    void pdeLearned() {
        int[] sh = {2, 2, 5, 6};
        PdeSpec s = new PdeSpec(3, 0.1, 1.0, 1.2);
        Tensor f = random(sh), h = random(sh), u = random(0, 0.5, sh), v = random(0, 0.5, sh);
        Tensor dx = random(0.8, 0.2, sh), dy = random(0.8, 0.2, sh), out = random(sh), rr = random(sh);
        Tensor gf = random(sh), gh = random(sh), gu = random(sh), gv = random(sh), gdx = random(sh), gdy = random(sh);
        be.pdeBackward(f, h, u, v, dx, dy, 0, s, rr, gf, gh, gu, gv, gdx, gdy);
        DoubleSupplier loss = () -> {
            be.pdeForward(f, h, u, v, dx, dy, 0, s, out);
            return dot(out, rr);
        };
        check("pde gf", f, gf, loss);
        check("pde gh", h, gh, loss);
        check("pde gu", u, gu, loss);
        check("pde gv", v, gv, loss);
        check("pde gDx", dx, gdx, loss);
        check("pde gDy", dy, gdy, loss);
    }

    @Test
    void pdeConstantDiffusivity() {
        int[] sh = {1, 3, 4, 7};
        PdeSpec s = new PdeSpec(4, 0.15, 1.1, 0.9);
        Tensor f = random(sh), h = random(sh), u = random(0, 0.5, sh), v = random(0, 0.5, sh);
        Tensor out = random(sh), rr = random(sh);
        Tensor gf = random(sh), gh = random(sh), gu = random(sh), gv = random(sh);
        be.pdeBackward(f, h, u, v, null, null, 0.6, s, rr, gf, gh, gu, gv, null, null);
        DoubleSupplier loss = () -> {
            be.pdeForward(f, h, u, v, null, null, 0.6, s, out);
            return dot(out, rr);
        };
        check("pde (constant D) gf", f, gf, loss);
        check("pde (constant D) gh", h, gh, loss);
        check("pde (constant D) gu", u, gu, loss);
        check("pde (constant D) gv", v, gv, loss);
    }

    @Test
    void peronaMalik() {
        for (int[] sh : new int[][] {{1, 2, 4, 5}, {2, 1, 2, 2}, {1, 1, 3, 6}}) {
            Tensor h = random(sh), dx = h.zerosLike(), dy = h.zerosLike(), r1 = random(sh), r2 = random(sh);
            Tensor gh = Tensor.zeros(DType.F64, sh);
            be.peronaMalikBackward(h, 1.3, r1, r2, gh);
            check("perona-malik " + java.util.Arrays.toString(sh), h, gh, () -> {
                be.peronaMalik(h, 1.3, dx, dy);
                return dot(dx, r1) + dot(dy, r2);
            });
        }
    }
}
