package dev.pdecnn.backend.reference;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.Tensor;

import static dev.pdecnn.backend.reference.ReferenceBackend.accumulate;
import static dev.pdecnn.backend.reference.ReferenceBackend.read;
import static dev.pdecnn.backend.reference.ReferenceBackend.write;

/**
 * The Global layer's PDE and the Perona–Malik diffusivity of {@link ReferenceBackend}, as plain loops.
 *
 * <p><b>The PDE.</b> On every (n, c) plane, with i the row (x, spacing dx) and j the column (y, spacing dy), the
 * layer integrates H_t = (u H)_x + (v H)_y + Dx H_xx + Dy H_yy + f with periodic boundaries by the explicit
 * DuFort–Frankel scheme: central differences in space, and the centre value of each second difference replaced
 * by the average of the previous and next time levels, (H(k+1) + H(k-1)) / 2. Solving for H(k+1) gives, per
 * pixel, with Bx = dt Dx / dx^2, By = dt Dy / dy^2, Ax = dt u / dx, Ay = dt v / dy:
 * <pre>
 *   L = 1 / (1 + 2 Bx + 2 By),  M = 1 - 2 Bx - 2 By,
 *   E = dt (u[i-1] - u[i+1]) / (2 dx) + dt (v[j-1] - v[j+1]) / (2 dy)          (= -dt (u_x + v_y))
 *   H(k+1) = L ( M H(k-1) - 2 E H(k) + (2 Bx - Ax) H(k)[i-1] + (2 Bx + Ax) H(k)[i+1]
 *                + (2 By - Ay) H(k)[j-1] + (2 By + Ay) H(k)[j+1] + 2 dt f )
 * </pre>
 * The recursion starts from H(-1) = f and H(0) = h and the output is H(K), K = {@link PdeSpec#steps()}. The seven
 * products of L with the bracket's factors are the per-pixel coefficients c0, c1, cxm, cxp, cym, cyp, cf below.
 * u, v null means zero velocity; dX, dY null means the same diffusivity dConst everywhere.
 *
 * <p><b>Its gradient</b> is the reverse mode of that recursion written out: all K + 2 states are kept, the adjoint
 * of each step is applied from the last to the first (each product c * H sends g c to H's adjoint and g H to c's),
 * and the coefficient adjoints are then chained through L, M, E to u, v, Dx, Dy and f.
 *
 * <p><b>Perona–Malik.</b> dX = 1 / (1 + Sx^2 / lambda^2), dY = 1 / (1 + Sy^2 / lambda^2), with the 3x3 Sobel
 * derivatives Sx (across rows) and Sy (across columns) on the plane extended by reflection (index -1 reads 1,
 * index H reads H - 2).
 */
final class ReferencePde {
    private ReferencePde() {
    }

    /** Per-pixel coefficients of one plane (see the class comment) and the quantities they are made of. */
    private static final class Coeffs {
        final double[] l, m, e, u, v, dx, dy, c0, c1, cxm, cxp, cym, cyp, cf;

        Coeffs(int hw) {
            l = new double[hw];
            m = new double[hw];
            e = new double[hw];
            u = new double[hw];
            v = new double[hw];
            dx = new double[hw];
            dy = new double[hw];
            c0 = new double[hw];
            c1 = new double[hw];
            cxm = new double[hw];
            cxp = new double[hw];
            cym = new double[hw];
            cyp = new double[hw];
            cf = new double[hw];
        }
    }

    private static int at(int i, int j, int h, int w) {
        return Math.floorMod(i, h) * w + Math.floorMod(j, w); // periodic
    }

    /** The coefficients of plane p (elements p hw .. p hw + hw - 1 of the inputs). */
    private static Coeffs coefficients(double[] F, double[] U, double[] V, double[] DX, double[] DY, double dConst,
                                       PdeSpec s, int p, int h, int w) {
        int hw = h * w, base = p * hw;
        double dt = s.dt();
        Coeffs c = new Coeffs(hw);
        for (int q = 0; q < hw; q++) {
            c.u[q] = U == null ? 0 : U[base + q];
            c.v[q] = V == null ? 0 : V[base + q];
            c.dx[q] = DX == null ? dConst : DX[base + q];
            c.dy[q] = DY == null ? dConst : DY[base + q];
        }
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                int q = i * w + j;
                double bx = dt * c.dx[q] / (s.dx() * s.dx()), by = dt * c.dy[q] / (s.dy() * s.dy());
                double ax = dt * c.u[q] / s.dx(), ay = dt * c.v[q] / s.dy();
                double l = 1 / (1 + 2 * bx + 2 * by);
                c.l[q] = l;
                c.m[q] = 1 - 2 * bx - 2 * by;
                c.e[q] = dt * (c.u[at(i - 1, j, h, w)] - c.u[at(i + 1, j, h, w)]) / (2 * s.dx())
                        + dt * (c.v[at(i, j - 1, h, w)] - c.v[at(i, j + 1, h, w)]) / (2 * s.dy());
                c.c0[q] = l * c.m[q];
                c.c1[q] = -2 * c.e[q] * l;
                c.cxm[q] = l * (2 * bx - ax);
                c.cxp[q] = l * (2 * bx + ax);
                c.cym[q] = l * (2 * by - ay);
                c.cyp[q] = l * (2 * by + ay);
                c.cf[q] = 2 * dt * l * F[base + q];
            }
        }
        return c;
    }

    /** The states H(-1) .. H(K) of plane p, at indices 0 .. K + 1. */
    private static double[][] states(double[] F, double[] HH, Coeffs c, int k, int p, int h, int w) {
        int hw = h * w;
        double[][] st = new double[k + 2][hw];
        System.arraycopy(F, p * hw, st[0], 0, hw);
        System.arraycopy(HH, p * hw, st[1], 0, hw);
        for (int step = 0; step < k; step++) {
            double[] prev = st[step], cur = st[step + 1], next = st[step + 2];
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    int q = i * w + j;
                    next[q] = c.c0[q] * prev[q] + c.c1[q] * cur[q]
                            + c.cxm[q] * cur[at(i - 1, j, h, w)] + c.cxp[q] * cur[at(i + 1, j, h, w)]
                            + c.cym[q] * cur[at(i, j - 1, h, w)] + c.cyp[q] * cur[at(i, j + 1, h, w)] + c.cf[q];
                }
            }
        }
        return st;
    }

    static void forward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                        Tensor out) {
        double[] F = read(f), HH = read(h), U = u == null ? null : read(u), V = v == null ? null : read(v);
        double[] DX = dX == null ? null : read(dX), DY = dY == null ? null : read(dY);
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), hw = hh * w, k = s.steps();
        double[] O = new double[F.length];
        for (int p = 0; p < planes; p++) {
            Coeffs c = coefficients(F, U, V, DX, DY, dConst, s, p, hh, w);
            System.arraycopy(states(F, HH, c, k, p, hh, w)[k + 1], 0, O, p * hw, hw);
        }
        write(out, O);
    }

    static void backward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst, PdeSpec s,
                         Tensor gOut, Tensor gf, Tensor gh, Tensor gu, Tensor gv, Tensor gDx, Tensor gDy) {
        double[] F = read(f), HH = read(h), U = u == null ? null : read(u), V = v == null ? null : read(v);
        double[] DX = dX == null ? null : read(dX), DY = dY == null ? null : read(dY), GO = read(gOut);
        int planes = f.dim(0) * f.dim(1), hh = f.dim(2), w = f.dim(3), hw = hh * w, k = s.steps(), n = F.length;
        double dt = s.dt(), b2x = 2 * dt / (s.dx() * s.dx()), b2y = 2 * dt / (s.dy() * s.dy());
        double ax = dt / s.dx(), ay = dt / s.dy(), ex = dt / (2 * s.dx()), ey = dt / (2 * s.dy());
        double[] GF = new double[n], GH = new double[n], GU = new double[n], GV = new double[n];
        double[] GDX = new double[n], GDY = new double[n];
        for (int p = 0; p < planes; p++) {
            int base = p * hw;
            Coeffs c = coefficients(F, U, V, DX, DY, dConst, s, p, hh, w);
            double[][] st = states(F, HH, c, k, p, hh, w);
            // adjoints of the states H(-1) .. H(K) and of the seven coefficients
            double[][] gs = new double[k + 2][hw];
            System.arraycopy(GO, base, gs[k + 1], 0, hw);
            double[] g0 = new double[hw], g1 = new double[hw], gxm = new double[hw], gxp = new double[hw];
            double[] gym = new double[hw], gyp = new double[hw], gcf = new double[hw];
            for (int step = k - 1; step >= 0; step--) {
                double[] g = gs[step + 2], prev = st[step], cur = st[step + 1];
                double[] gPrev = gs[step], gCur = gs[step + 1];
                for (int i = 0; i < hh; i++) {
                    for (int j = 0; j < w; j++) {
                        int q = i * w + j, im = at(i - 1, j, hh, w), ip = at(i + 1, j, hh, w);
                        int jm = at(i, j - 1, hh, w), jp = at(i, j + 1, hh, w);
                        g0[q] += g[q] * prev[q];
                        g1[q] += g[q] * cur[q];
                        gxm[q] += g[q] * cur[im];
                        gxp[q] += g[q] * cur[ip];
                        gym[q] += g[q] * cur[jm];
                        gyp[q] += g[q] * cur[jp];
                        gcf[q] += g[q];
                        gPrev[q] += c.c0[q] * g[q];
                        gCur[q] += c.c1[q] * g[q];
                        gCur[im] += c.cxm[q] * g[q];
                        gCur[ip] += c.cxp[q] * g[q];
                        gCur[jm] += c.cym[q] * g[q];
                        gCur[jp] += c.cyp[q] * g[q];
                    }
                }
            }
            for (int i = 0; i < hh; i++) {
                for (int j = 0; j < w; j++) {
                    int q = i * w + j;
                    double l = c.l[q], bx2 = b2x * c.dx[q], by2 = b2y * c.dy[q];
                    // every coefficient is L times a factor: the adjoint of L collects g_coeff * factor
                    double gl = g0[q] * c.m[q] + g1[q] * (-2 * c.e[q])
                            + gxm[q] * (bx2 - ax * c.u[q]) + gxp[q] * (bx2 + ax * c.u[q])
                            + gym[q] * (by2 - ay * c.v[q]) + gyp[q] * (by2 + ay * c.v[q]) + gcf[q] * 2 * dt * F[base + q];
                    double gm = g0[q] * l, ge = -2 * l * g1[q];
                    // f is H(-1) and enters cf = 2 dt L f
                    GF[base + q] = gs[0][q] + 2 * dt * l * gcf[q];
                    GH[base + q] = gs[1][q];
                    // u, v directly (Ax, Ay in the neighbour coefficients) ...
                    GU[base + q] += ax * l * (gxp[q] - gxm[q]);
                    GV[base + q] += ay * l * (gyp[q] - gym[q]);
                    // ... and through E: u[i-1] enters with +dt/(2dx), u[i+1] with -dt/(2dx); v likewise along j
                    GU[base + at(i - 1, j, hh, w)] += ex * ge;
                    GU[base + at(i + 1, j, hh, w)] -= ex * ge;
                    GV[base + at(i, j - 1, hh, w)] += ey * ge;
                    GV[base + at(i, j + 1, hh, w)] -= ey * ge;
                    // Dx: directly (2 Bx in cxm, cxp), through L = 1/(1 + 2Bx + 2By) and M = 1 - 2Bx - 2By
                    GDX[base + q] = b2x * l * (gxm[q] + gxp[q]) - gl * l * l * b2x - gm * b2x;
                    GDY[base + q] = b2y * l * (gym[q] + gyp[q]) - gl * l * l * b2y - gm * b2y;
                }
            }
        }
        if (dX == null) { // a constant diffusivity has no per-pixel gradient
            java.util.Arrays.fill(GDX, 0);
            java.util.Arrays.fill(GDY, 0);
        }
        writeIf(gf, GF);
        writeIf(gh, GH);
        writeIf(gu, GU);
        writeIf(gv, GV);
        writeIf(gDx, GDX);
        writeIf(gDy, GDY);
    }

    private static void writeIf(Tensor t, double[] a) {
        if (t != null) {
            write(t, a);
        }
    }

    private static int reflect(int i, int n) {
        return i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
    }

    /**
     * Sobel derivatives of one plane at (i, j), reflect padding: Sx = sum over dj in {-1, 0, 1} of
     * (1, 2, 1)[dj] (h[i+1][j+dj] - h[i-1][j+dj]); Sy likewise with rows and columns exchanged.
     */
    private static double sobel(double[] x, int base, int i, int j, int h, int w, boolean alongRows) {
        double s = 0;
        for (int d = -1; d <= 1; d++) {
            double wt = d == 0 ? 2 : 1;
            s += alongRows
                    ? wt * (x[base + reflect(i + 1, h) * w + reflect(j + d, w)]
                    - x[base + reflect(i - 1, h) * w + reflect(j + d, w)])
                    : wt * (x[base + reflect(i + d, h) * w + reflect(j + 1, w)]
                    - x[base + reflect(i + d, h) * w + reflect(j - 1, w)]);
        }
        return s;
    }

    private static int[] planeShape(Tensor h) {
        int hh = h.dim(2), w = h.dim(3);
        if (hh < 2 || w < 2) {
            throw new IllegalArgumentException("Perona-Malik needs maps of at least 2x2 for reflect padding, got "
                    + hh + "x" + w);
        }
        return new int[] {h.dim(0) * h.dim(1), hh, w};
    }

    static void peronaMalik(Tensor h, double lambda, Tensor dX, Tensor dY) {
        int[] sh = planeShape(h);
        int hh = sh[1], w = sh[2];
        double[] HH = read(h), DX = new double[HH.length], DY = new double[HH.length];
        for (int p = 0; p < sh[0]; p++) {
            for (int i = 0; i < hh; i++) {
                for (int j = 0; j < w; j++) {
                    int q = p * hh * w + i * w + j;
                    double sx = sobel(HH, p * hh * w, i, j, hh, w, true), sy = sobel(HH, p * hh * w, i, j, hh, w, false);
                    DX[q] = 1 / (1 + sx * sx / (lambda * lambda));
                    DY[q] = 1 / (1 + sy * sy / (lambda * lambda));
                }
            }
        }
        write(dX, DX);
        write(dY, DY);
    }

    /**
     * d D / d S = -2 S / lambda^2 D^2 for D = 1 / (1 + S^2 / lambda^2); each Sobel tap then sends its weight times
     * that to the (reflected) pixel it read. Accumulates into gh.
     */
    static void peronaMalikBackward(Tensor h, double lambda, Tensor gDx, Tensor gDy, Tensor gh) {
        int[] sh = planeShape(h);
        int hh = sh[1], w = sh[2];
        double inv2 = 1 / (lambda * lambda);
        double[] HH = read(h), GDX = read(gDx), GDY = read(gDy), GH = new double[HH.length];
        for (int p = 0; p < sh[0]; p++) {
            int base = p * hh * w;
            for (int i = 0; i < hh; i++) {
                for (int j = 0; j < w; j++) {
                    int q = base + i * w + j;
                    double sx = sobel(HH, base, i, j, hh, w, true), sy = sobel(HH, base, i, j, hh, w, false);
                    double dx = 1 / (1 + sx * sx * inv2), dy = 1 / (1 + sy * sy * inv2);
                    double gsx = GDX[q] * (-2 * sx * inv2 * dx * dx), gsy = GDY[q] * (-2 * sy * inv2 * dy * dy);
                    for (int d = -1; d <= 1; d++) {
                        double wt = d == 0 ? 2 : 1;
                        GH[base + reflect(i + 1, hh) * w + reflect(j + d, w)] += wt * gsx;
                        GH[base + reflect(i - 1, hh) * w + reflect(j + d, w)] -= wt * gsx;
                        GH[base + reflect(i + d, hh) * w + reflect(j + 1, w)] += wt * gsy;
                        GH[base + reflect(i + d, hh) * w + reflect(j - 1, w)] -= wt * gsy;
                    }
                }
            }
        }
        accumulate(gh, GH);
    }
}
