package dev.pdecnn.backend;

import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every op of both CPU backends with every tensor argument a view ({@link Tensor#view}) at a nonzero offset inside
 * a larger base filled with a sentinel value: all arguments afterwards (outputs, accumulated gradients, updated
 * statistics, and the inputs, which must be unchanged) equal bit for bit those of the same call on plain tensors,
 * the returned value too, and no sentinel outside a view's window changed. Two layouts: every view at the same
 * offset (the fast backend's shared-index loops) and every view at a different offset (its separate-index loops).
 */
class ViewOffsetTest {
    private static final double SENTINEL = -12345.5;
    private static final int TAIL = 7;

    /** One op call on the arguments (in the order of {@link Case#shapes}); returns its result or 0. */
    private interface Op {
        double run(Backend be, Tensor[] a);
    }

    /** An op, the shapes of its tensor arguments, and which of them must hold positive values. */
    private record Case(String name, int[][] shapes, int[] positive, Op op) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static int[][] s(int[]... shapes) {
        return shapes;
    }

    private static int[] p(int... i) {
        return i;
    }

    private static final ConvSpec SAME = new ConvSpec(1, 1, 1), GROUPED_S2 = new ConvSpec(2, 1, 2),
            DEPTHWISE = new ConvSpec(1, 1, 5), S2 = new ConvSpec(2, 1, 1);
    private static final PdeSpec PDE = new PdeSpec(3, 0.2, 1.0, 1.3);

    private static List<Case> cases() {
        List<Case> c = new ArrayList<>();
        Object[][] convs = {
                {"3x3 same", SAME, new int[] {2, 4, 7, 9}, new int[] {6, 4, 3, 3}, new int[] {2, 6, 7, 9}},
                {"grouped stride 2", GROUPED_S2, new int[] {2, 4, 7, 9}, new int[] {6, 2, 3, 3}, new int[] {2, 6, 4, 5}},
                {"depthwise", DEPTHWISE, new int[] {2, 5, 8, 7}, new int[] {5, 1, 3, 3}, new int[] {2, 5, 8, 7}},
                {"16 channels (BLAS implicit GEMM)", SAME, new int[] {2, 16, 8, 9}, new int[] {16, 16, 3, 3},
                        new int[] {2, 16, 8, 9}},
                {"stride 2 (BLAS im2col)", S2, new int[] {2, 16, 9, 9}, new int[] {32, 16, 3, 3},
                        new int[] {2, 32, 5, 5}},
                {"1 input channel", SAME, new int[] {3, 1, 6, 5}, new int[] {8, 1, 3, 3}, new int[] {3, 8, 6, 5}},
        };
        for (Object[] cv : convs) {
            ConvSpec sp = (ConvSpec) cv[1];
            int[] x = (int[]) cv[2], w = (int[]) cv[3], y = (int[]) cv[4];
            c.add(new Case("conv2dForward " + cv[0], s(x, w, y), p(), (be, a) -> {
                be.conv2dForward(a[0], a[1], a[2], sp);
                return 0;
            }));
            c.add(new Case("conv2dBackward " + cv[0], s(x, w, y, x, w), p(), (be, a) -> {
                be.conv2dBackward(a[0], a[1], a[2], a[3], a[4], sp);
                return 0;
            }));
        }
        int[] x = {3, 4, 5, 6}, ch = {4};
        c.add(new Case("batchNormTrain", s(x, ch, ch, ch, ch, x, ch, ch), p(4), (be, a) -> {
            be.batchNormTrain(a[0], a[1], a[2], a[3], a[4], 0.1, 1e-3, a[5], a[6], a[7]);
            return 0;
        }));
        c.add(new Case("batchNormReluTrain", s(x, ch, ch, ch, ch, x, ch, ch), p(4), (be, a) -> {
            be.batchNormReluTrain(a[0], a[1], a[2], a[3], a[4], 0.1, 1e-3, a[5], a[6], a[7]);
            return 0;
        }));
        c.add(new Case("batchNormEval", s(x, ch, ch, ch, ch, x), p(4), (be, a) -> {
            be.batchNormEval(a[0], a[1], a[2], a[3], a[4], 1e-3, a[5]);
            return 0;
        }));
        c.add(new Case("batchNormReluEval", s(x, ch, ch, ch, ch, x), p(4), (be, a) -> {
            be.batchNormReluEval(a[0], a[1], a[2], a[3], a[4], 1e-3, a[5]);
            return 0;
        }));
        c.add(new Case("batchNormBackward", s(x, x, ch, ch, ch, x, ch, ch), p(4), (be, a) -> {
            be.batchNormBackward(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
            return 0;
        }));
        c.add(new Case("batchNormReluBackward", s(x, x, x, ch, ch, ch, x, ch, ch), p(5), (be, a) -> {
            be.batchNormReluBackward(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
            return 0;
        }));
        int[] e = {2, 3, 5, 7};
        c.add(new Case("relu", s(e, e), p(), (be, a) -> {
            be.relu(a[0], a[1]);
            return 0;
        }));
        c.add(new Case("reluBackward", s(e, e, e), p(), (be, a) -> {
            be.reluBackward(a[0], a[1], a[2]);
            return 0;
        }));
        c.add(new Case("add", s(e, e, e), p(), (be, a) -> {
            be.add(a[0], a[1], a[2]);
            return 0;
        }));
        c.add(new Case("addRelu", s(e, e, e), p(), (be, a) -> {
            be.addRelu(a[0], a[1], a[2]);
            return 0;
        }));
        int[] px = {2, 3, 6, 4}, py = {2, 3, 3, 2};
        c.add(new Case("avgPool", s(px, py), p(), (be, a) -> {
            be.avgPool(a[0], 2, a[1]);
            return 0;
        }));
        c.add(new Case("avgPoolBackward", s(py, px), p(), (be, a) -> {
            be.avgPoolBackward(a[0], 2, a[1]);
            return 0;
        }));
        int[] dx = {3, 2, 5}, dw = {4, 10}, db = {4}, dy = {3, 4};
        c.add(new Case("dense", s(dx, dw, db, dy), p(), (be, a) -> {
            be.dense(a[0], a[1], a[2], a[3]);
            return 0;
        }));
        c.add(new Case("dense without bias", s(dx, dw, dy), p(), (be, a) -> {
            be.dense(a[0], a[1], null, a[2]);
            return 0;
        }));
        c.add(new Case("denseBackward", s(dx, dw, dy, dx, dw, db), p(), (be, a) -> {
            be.denseBackward(a[0], a[1], a[2], a[3], a[4], a[5]);
            return 0;
        }));
        c.add(new Case("softmaxCrossEntropy", s(dy, dy), p(), (be, a) -> {
            int[] pred = new int[3];
            double loss = be.softmaxCrossEntropy(a[0], new int[] {1, 3, 0}, a[1], pred);
            return loss + 1e3 * (pred[0] + 10 * pred[1] + 100 * pred[2]);
        }));
        int[] f = {2, 3, 7, 5};
        c.add(new Case("pdeForward learned", s(f, f, f, f, f, f, f), p(4, 5), (be, a) -> {
            be.pdeForward(a[0], a[1], a[2], a[3], a[4], a[5], 0, PDE, a[6]);
            return 0;
        }));
        c.add(new Case("pdeForward constant", s(f, f, f), p(), (be, a) -> {
            be.pdeForward(a[0], a[1], null, null, null, null, 0.7, PDE, a[2]);
            return 0;
        }));
        c.add(new Case("pdeBackward learned", s(f, f, f, f, f, f, f, f, f, f, f, f, f), p(4, 5), (be, a) -> {
            be.pdeBackward(a[0], a[1], a[2], a[3], a[4], a[5], 0, PDE, a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
            return 0;
        }));
        c.add(new Case("pdeBackward constant", s(f, f, f, f, f), p(), (be, a) -> {
            be.pdeBackward(a[0], a[1], null, null, null, null, 0.7, PDE, a[2], a[3], a[4], null, null, null, null);
            return 0;
        }));
        c.add(new Case("peronaMalik", s(f, f, f), p(), (be, a) -> {
            be.peronaMalik(a[0], 1.5, a[1], a[2]);
            return 0;
        }));
        c.add(new Case("peronaMalikBackward", s(f, f, f, f), p(), (be, a) -> {
            be.peronaMalikBackward(a[0], 1.5, a[1], a[2], a[3]);
            return 0;
        }));
        int[] w = {5, 3, 3, 3};
        c.add(new Case("sgdStep", s(w, w, w), p(), (be, a) -> {
            be.sgdStep(a[0], a[1], a[2], 0.05, 0.9, 5e-4);
            return 0;
        }));
        c.add(new Case("sumSquares", s(w), p(), (be, a) -> be.sumSquares(a[0])));
        return c;
    }

    static Stream<Arguments> calls() {
        List<Arguments> out = new ArrayList<>();
        for (String be : List.of("cpu", "reference")) {
            for (boolean sameOffset : new boolean[] {true, false}) {
                for (Case c : cases()) {
                    out.add(Arguments.of(be, sameOffset, c));
                }
            }
        }
        return out.stream();
    }

    private static Tensor[] values(DType dt, Case c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Tensor[] a = new Tensor[c.shapes.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = Tensor.zeros(dt, c.shapes[i]);
            boolean pos = false;
            for (int q : c.positive) {
                pos |= q == i;
            }
            for (int k = 0; k < a[i].size(); k++) {
                double v = r.nextGaussian();
                a[i].set(k, pos ? 0.3 + Math.abs(v) : v);
            }
        }
        return a;
    }

    @ParameterizedTest(name = "{0} same offsets={1} {2}")
    @MethodSource("calls")
    void viewsGiveThePlainResult(String backend, boolean sameOffset, Case c) {
        Backend be = backend.equals("cpu") ? new CpuBackend() : new ReferenceBackend();
        DType dt = be.dtype();
        Tensor[] plain = values(dt, c, 17);
        Tensor[] init = values(dt, c, 17);
        Tensor[] bases = new Tensor[plain.length], views = new Tensor[plain.length];
        int[] offsets = new int[plain.length];
        for (int i = 0; i < plain.length; i++) {
            offsets[i] = sameOffset ? 5 : 3 + 4 * i;
            bases[i] = Tensor.zeros(dt, offsets[i] + plain[i].size() + TAIL);
            bases[i].fill(SENTINEL);
            views[i] = Tensor.view(bases[i], offsets[i], c.shapes[i]);
            assertEquals(offsets[i], views[i].offset());
            init[i].copyInto(views[i]);
        }
        double expected = c.op.run(be, plain);
        double got = c.op.run(be, views);
        assertEquals(Double.doubleToLongBits(expected), Double.doubleToLongBits(got), c + ": returned value");
        for (int i = 0; i < plain.length; i++) {
            for (int k = 0; k < plain[i].size(); k++) {
                double want = plain[i].get(k), have = views[i].get(k);
                if (Double.doubleToLongBits(want) != Double.doubleToLongBits(have)) {
                    fail(c + ": argument " + i + " element " + k + ": view " + have + ", plain " + want);
                }
            }
            for (int k = 0; k < bases[i].size(); k++) {
                if ((k < offsets[i] || k >= offsets[i] + plain[i].size()) && bases[i].get(k) != SENTINEL) {
                    fail(c + ": argument " + i + " wrote outside its view at base element " + k);
                }
            }
        }
    }
}
