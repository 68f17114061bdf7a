package dev.pdecnn.export;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.export.OnnxGraph.Val;

import java.util.List;

/**
 * The Global layer's K DuFort–Frankel steps and the Perona–Malik diffusivity (docs/design.md §1) unrolled into
 * standard ONNX operators. Periodic neighbours are Slice + Concat along the row (axis 2) or column (axis 3) axis,
 * which opset 17 has (Pad's wrap mode came only in opset 19); the Sobel derivatives are fixed depthwise
 * convolutions on a reflect-padded map (ONNX's reflect mirrors without repeating the edge, as our kernels do).
 * The seven per-pixel coefficients are computed once and shared by the K steps, as in
 * backend/reference/ReferencePde.
 */
final class PdeGraph {
    /** Slice bound meaning "to the end" (ONNX clamps it to the axis length). */
    private static final long END = Long.MAX_VALUE;

    private PdeGraph() {
    }

    /**
     * H(K) of the recursion from H(-1) = f, H(0) = h with velocity u, v and diffusivity dX, dY (each a tensor of
     * f's shape or an export-time constant, 0 for an absent term).
     */
    static String evolve(OnnxGraph g, String f, String h, Val u, Val v, Val dX, Val dY, PdeSpec s) {
        double dt = s.dt();
        Val bx = g.mul(dt / (s.dx() * s.dx()), dX), by = g.mul(dt / (s.dy() * s.dy()), dY);
        Val ax = g.mul(dt / s.dx(), u), ay = g.mul(dt / s.dy(), v);
        Val twoB = g.mul(2, g.add(bx, by));
        Val l = g.reciprocal(g.add(Val.of(1), twoB));
        Val m = g.sub(Val.of(1), twoB);
        // E = dt (u[i-1] - u[i+1]) / (2 dx) + dt (v[j-1] - v[j+1]) / (2 dy)
        Val e = g.add(g.mul(dt / (2 * s.dx()), g.sub(shift(g, u, 2, -1), shift(g, u, 2, 1))),
                g.mul(dt / (2 * s.dy()), g.sub(shift(g, v, 3, -1), shift(g, v, 3, 1))));
        Val c0 = g.mul(l, m);
        Val c1 = g.mul(-2, g.mul(e, l));
        Val twoBx = g.mul(2, bx), twoBy = g.mul(2, by);
        Val cxm = g.mul(l, g.sub(twoBx, ax)), cxp = g.mul(l, g.add(twoBx, ax));
        Val cym = g.mul(l, g.sub(twoBy, ay)), cyp = g.mul(l, g.add(twoBy, ay));
        Val cf = g.mul(l, g.mul(2 * dt, Val.of(f)));
        Val prev = Val.of(f), cur = Val.of(h);
        for (int k = 0; k < s.steps(); k++) {
            Val next = g.sum(List.of(g.mul(c0, prev), g.mul(c1, cur),
                    g.mul(cxm, shift(g, cur, 2, -1)), g.mul(cxp, shift(g, cur, 2, 1)),
                    g.mul(cym, shift(g, cur, 3, -1)), g.mul(cyp, shift(g, cur, 3, 1)), cf));
            prev = cur;
            cur = next;
        }
        return cur.name(); // a tensor: every step adds the tensor cf
    }

    /** out[.., i, ..] = x[.., i + d, ..] along axis (2: rows, 3: columns), periodically; d is -1 or +1. */
    static Val shift(OnnxGraph g, Val x, int axis, int d) {
        if (x.isConst()) {
            return x;
        }
        String axes = g.int64Const(axis);
        // d = -1: the last row first, then rows 0..H-2; d = +1: rows 1..H-1, then row 0
        long firstStart = d < 0 ? -1 : 1, secondEnd = d < 0 ? -1 : 1;
        String head = g.node("Slice", "roll", x.name(), g.int64Const(firstStart), g.int64Const(END), axes);
        String tail = g.node("Slice", "roll", x.name(), g.int64Const(0), g.int64Const(secondEnd), axes);
        return Val.of(g.node("Concat", "roll", new String[]{head, tail}, OnnxGraph.integer("axis", axis)));
    }

    /** Dx, Dy = 1 / (1 + (S h)^2 / lambda^2) with S the 3x3 Sobel derivative across rows (x) or columns (y). */
    static Val[] peronaMalik(OnnxGraph g, String h, int channels, double lambda, String prefix) {
        String padded = g.node("Pad", "pm_pad", new String[]{h, g.int64Const(0, 0, 1, 1, 0, 0, 1, 1)},
                OnnxGraph.string("mode", "reflect"));
        Val[] d = new Val[2];
        for (int dir = 0; dir < 2; dir++) {
            double[] w = new double[channels * 9];
            for (int c = 0; c < channels; c++) {
                for (int t = -1; t <= 1; t++) {
                    double wt = t == 0 ? 2 : 1;
                    if (dir == 0) { // Sx = sum_t wt (h[i+1, j+t] - h[i-1, j+t])
                        w[c * 9 + 2 * 3 + (t + 1)] = wt;
                        w[c * 9 + (t + 1)] = -wt;
                    } else { // Sy = sum_t wt (h[i+t, j+1] - h[i+t, j-1])
                        w[c * 9 + (t + 1) * 3 + 2] = wt;
                        w[c * 9 + (t + 1) * 3] = -wt;
                    }
                }
            }
            String kernel = g.floats(prefix + (dir == 0 ? ".sobel_x" : ".sobel_y"), w, channels, 1, 3, 3);
            Val sobel = Val.of(g.node("Conv", "sobel", new String[]{padded, kernel},
                    OnnxGraph.integer("group", channels), OnnxGraph.ints("kernel_shape", 3, 3)));
            Val sq = g.mul(1 / (lambda * lambda), g.mul(sobel, sobel));
            d[dir] = g.reciprocal(g.add(Val.of(1), sq));
        }
        return d;
    }
}
