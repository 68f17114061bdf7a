package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.Velocity;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Global layer of docs/design.md §1: forward against a literal transcription of the equations, backward against FD. */
class GlobalLayerTest {
    private final Backend be = new ReferenceBackend();

    /** docs/design.md §1 step 4 transcribed literally (coefficients recomputed per element and step, torch.roll indexing). */
    static double[] referencePde(double[] f, double[] h, double[] u, double[] v, double[] dX, double[] dY,
                                 int planes, int hh, int w, PdeSpec s) {
        double dt = s.dt(), dx = s.dx(), dy = s.dy();
        double[] out = new double[f.length];
        for (int p = 0; p < planes; p++) {
            int b = p * hh * w;
            double[] prev = new double[hh * w], cur = new double[hh * w];
            for (int q = 0; q < hh * w; q++) {
                prev[q] = f[b + q];
                cur[q] = h[b + q];
            }
            for (int k = 0; k < s.steps(); k++) {
                double[] next = new double[hh * w];
                for (int i = 0; i < hh; i++) {
                    for (int j = 0; j < w; j++) {
                        int im = Math.floorMod(i - 1, hh), ip = Math.floorMod(i + 1, hh);
                        int jm = Math.floorMod(j - 1, w), jp = Math.floorMod(j + 1, w);
                        double ux = (u[b + im * w + j] - u[b + ip * w + j]) / (2 * dx);
                        double vy = (v[b + i * w + jm] - v[b + i * w + jp]) / (2 * dy);
                        int q = i * w + j;
                        double ax = u[b + q] * dt / dx, ay = v[b + q] * dt / dy;
                        double bx = dX[b + q] * dt / (dx * dx), by = dY[b + q] * dt / (dy * dy);
                        double e = (ux + vy) * dt;
                        double l = 1 / (1 + 2 * bx + 2 * by), m = 1 - 2 * bx - 2 * by;
                        next[q] = l * (m * prev[q] - 2 * e * cur[q]
                                + (-ax + 2 * bx) * cur[im * w + j] + (ax + 2 * bx) * cur[ip * w + j]
                                + (-ay + 2 * by) * cur[i * w + jm] + (ay + 2 * by) * cur[i * w + jp])
                                + 2 * dt * l * f[b + q];
                    }
                }
                prev = cur;
                cur = next;
            }
            System.arraycopy(cur, 0, out, b, hh * w);
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void forwardMatchesSpecTranscription(int n, int c, int hh, int w, int k) {
        SplittableRandom r = new SplittableRandom(n * 100L + hh * 10L + k);
        Tensor f = GradCheck.random(r, n, c, hh, w), h = GradCheck.random(r, n, c, hh, w);
        Tensor u = GradCheck.random(r, n, c, hh, w), v = GradCheck.random(r, n, c, hh, w);
        Tensor dX = GradCheck.random(r, n, c, hh, w), dY = GradCheck.random(r, n, c, hh, w);
        for (Tensor t : new Tensor[]{dX, dY}) {
            for (int i = 0; i < t.size(); i++) {
                t.set(i, Math.abs(t.get(i)));
            }
        }
        PdeSpec s = new PdeSpec(k, 0.2, 1.3, 0.8);
        Tensor out = f.zerosLike();
        be.pdeForward(f, h, u, v, dX, dY, 0, s, out);
        double[] ref = referencePde(f.f64(), h.f64(), u.f64(), v.f64(), dX.f64(), dY.f64(), n * c, hh, w, s);
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], out.get(i), 1e-12 * Math.max(1, Math.abs(ref[i])), "element " + i);
        }
        // constant diffusivity and zero velocity through the null arguments equal explicit tensors
        Tensor zero = f.zerosLike(), three = f.zerosLike();
        three.fill(3);
        Tensor a = f.zerosLike(), b = f.zerosLike();
        be.pdeForward(f, h, null, null, null, null, 3, s, a);
        be.pdeForward(f, h, zero, zero, three, three, 0, s, b);
        for (int i = 0; i < a.size(); i++) {
            assertEquals(b.get(i), a.get(i), 1e-12 * Math.max(1, Math.abs(b.get(i))));
        }
    }

    static Stream<Arguments> shapes() {
        return Stream.of(Arguments.of(2, 3, 5, 7, 1), Arguments.of(1, 2, 8, 3, 3), Arguments.of(3, 1, 4, 4, 5),
                Arguments.of(2, 2, 3, 9, 2));
    }

    @Test
    void zeroVelocityZeroDiffusivityIsClosedForm() {
        // u = v = 0, D = 0: L = M = 1, E = 0, so H(k+1) = H(k-1) + 2 dt f: H(k) = h + k dt f for even k and
        // (1 + (k + 1) dt) f for odd k.
        SplittableRandom r = new SplittableRandom(11);
        Tensor f = GradCheck.random(r, 2, 3, 5, 6), h = GradCheck.random(r, 2, 3, 5, 6);
        double dt = 0.2;
        for (int k = 1; k <= 6; k++) {
            Tensor out = f.zerosLike();
            be.pdeForward(f, h, null, null, null, null, 0, new PdeSpec(k, dt, 1, 1), out);
            for (int i = 0; i < out.size(); i++) {
                double expect = k % 2 == 0 ? h.get(i) + k * dt * f.get(i) : (1 + (k + 1) * dt) * f.get(i);
                assertEquals(expect, out.get(i), 1e-12, "K=" + k);
            }
        }
    }

    @Test
    void pdeBackwardAllInputsAgainstFiniteDifferences() {
        for (int k : new int[]{1, 3, 5}) {
            SplittableRandom r = new SplittableRandom(k);
            int[] shape = {2, 2, 4, 6};
            Tensor f = GradCheck.random(r, shape), h = GradCheck.random(r, shape), u = GradCheck.random(r, shape);
            Tensor v = GradCheck.random(r, shape), dX = GradCheck.random(r, shape), dY = GradCheck.random(r, shape);
            Tensor proj = GradCheck.random(r, shape);
            for (Tensor t : new Tensor[]{dX, dY}) {
                // diffusivities are relu outputs or Perona-Malik values, never negative; negative ones can make
                // 1 + 2Bx + 2By vanish, where finite differences lose all accuracy
                for (int i = 0; i < t.size(); i++) {
                    t.set(i, Math.abs(t.get(i)));
                }
            }
            PdeSpec s = new PdeSpec(k, 0.2, 1.1, 0.9);
            Tensor[] g = new Tensor[6];
            for (int i = 0; i < 6; i++) {
                g[i] = f.zerosLike();
            }
            be.pdeBackward(f, h, u, v, dX, dY, 0, s, proj, g[0], g[1], g[2], g[3], g[4], g[5]);
            Tensor[] in = {f, h, u, v, dX, dY};
            String[] names = {"f", "h", "u", "v", "Dx", "Dy"};
            List<String> errors = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                GradCheck.compare(names[i] + " K=" + k, in[i], g[i], () -> {
                    Tensor out = f.zerosLike();
                    be.pdeForward(f, h, u, v, dX, dY, 0, s, out);
                    return GradCheck.dot(out, proj);
                }, r, 48, errors);
            }
            assertTrue(errors.isEmpty(), errors.toString());
        }
    }

    static Stream<Arguments> modes() {
        List<Arguments> out = new ArrayList<>();
        GlobalSpec base = GlobalSpec.defaults(1);
        List<GlobalSpec> specs = List.of(
                base,                                                                       // row 2
                base.withVelocity(Velocity.LEARNED, SubNet.IDENTITY).withDiffusivity(Diffusivity.CONSTANT, SubNet.DWCONV, 1),
                base.withVelocity(Velocity.LEARNED, SubNet.BASIC).withDiffusivity(Diffusivity.LEARNED, SubNet.BASIC, 1),
                base.withDiffusivity(Diffusivity.PERONA_MALIK, SubNet.DWCONV, 1),
                base.withInit(SubNet.BASIC),
                base.withVelocity(Velocity.ZERO, SubNet.DWCONV),                           // diffusion, u = v = 0
                base.withVelocity(Velocity.ZERO_INPUT, SubNet.DWCONV),                     // row 7 as the study ran it
                base.withVelocity(Velocity.ZERO_INPUT, SubNet.IDENTITY).withDiffusivity(Diffusivity.PERONA_MALIK,
                        SubNet.DWCONV, 1),
                base.withDiffusivity(Diffusivity.ZERO, SubNet.DWCONV, 0),                  // advection
                base.withVelocity(Velocity.LEARNED, SubNet.CONV).withDiffusivity(Diffusivity.LEARNED, SubNet.PWCONV, 1),
                base.withVelocity(Velocity.LEARNED, SubNet.PWCONV).withDiffusivity(Diffusivity.LEARNED, SubNet.IDENTITY, 1),
                base.withVelocity(Velocity.ZERO, SubNet.DWCONV).withDiffusivity(Diffusivity.CONSTANT, SubNet.DWCONV, 0.7));
        for (GlobalSpec s : specs) {
            for (int k : new int[]{1, 3, 5}) {
                out.add(Arguments.of(s.withPde(new PdeSpec(k, 0.2, 1.0, 1.0))));
            }
        }
        return out.stream();
    }

    @ParameterizedTest
    @MethodSource("modes")
    void globalLayerGradients(GlobalSpec spec) {
        long seed = spec.hashCode();
        GlobalLayer m = new GlobalLayer(be, 3, spec);
        SplittableRandom r = new SplittableRandom(seed);
        for (Param p : m.namedParams().values()) {
            if (p.trainable) {
                for (int i = 0; i < p.value.size(); i++) {
                    p.value.set(i, p.value.rank() == 1 && p.name.equals("weight") ? 1 + 0.2 * r.nextGaussian() : 0.4 * r.nextGaussian());
                }
            }
        }
        // BN shifts of the velocity/diffusivity branches above zero keep relu(.) mostly active, as training does
        GradCheck.check(m, GradCheck.random(r, 2, 3, 5, 7), seed, 20);
    }
}
