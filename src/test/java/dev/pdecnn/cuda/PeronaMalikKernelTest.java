package dev.pdecnn.cuda;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.SplittableRandom;

/**
 * Sobel / Perona–Malik diffusivity forward and backward (a gather over the reflect-padded stencil) against the
 * double-precision CPU reference, including the smallest 2x2 maps where reflection folds taps onto each other,
 * and the whole perona_malik PDE mode: h -> (Dx, Dy) -> K steps -> gradients back into h.
 */
class PeronaMalikKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    private final ReferenceBackend cpu = new ReferenceBackend();
    static final int[][] SHAPES = {{1, 1, 2, 2}, {1, 2, 2, 5}, {2, 3, 5, 7}, {1, 2, 16, 16}, {2, 1, 28, 28}};

    @ParameterizedTest
    @EnumSource(DType.class)
    void forwardAndBackward(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(31);
        for (int[] sh : SHAPES) {
            Tensor[] h = Check.pair(r, 2, 0, false, sh), gdx = Check.pair(r, sh), gdy = Check.pair(r, sh);
            Tensor[] gh = Check.pair(r, sh);
            Tensor dx = Tensor.zeros(DType.F64, sh), dy = Tensor.zeros(DType.F64, sh);
            cpu.peronaMalik(h[1], 2.0, dx, dy);
            Tensor dxG = Tensor.zeros(t, sh), dyG = Tensor.zeros(t, sh);
            be.peronaMalik(Check.of(h, t), 2.0, dxG, dyG);
            String at = java.util.Arrays.toString(sh) + " ";
            Check.elementwise(at + "Dx", dx, dxG, Check.tol(t));
            Check.elementwise(at + "Dy", dy, dyG, Check.tol(t));
            Tensor ghRef = gh[1].copy(), ghG = Check.of(gh, t).copy();
            cpu.peronaMalikBackward(h[1], 2.0, gdx[1], gdy[1], ghRef);
            be.peronaMalikBackward(Check.of(h, t), 2.0, Check.of(gdx, t), Check.of(gdy, t), ghG);
            Check.scaled(at + "gh (accumulated)", ghRef, ghG, Check.tol(t));
        }
    }

    /** The perona_malik diffusivity mode of the Global layer end to end, for K in {1, 2, 5}. */
    @ParameterizedTest
    @EnumSource(DType.class)
    void peronaMalikPdeMode(DType t) {
        CudaBackend be = Kernels.backend(t);
        SplittableRandom r = new SplittableRandom(32);
        int[] sh = {2, 3, 12, 10};
        for (int k : new int[]{1, 2, 5}) {
            Tensor[] f = Check.pair(r, sh), h = Check.pair(r, sh), u = Check.pair(r, sh), v = Check.pair(r, sh);
            Tensor[] go = Check.pair(r, sh);
            PdeSpec s = new PdeSpec(k, 0.2, 1, 1);
            Tensor ref = run(cpu, DType.F64, f[1], h[1], u[1], v[1], go[1], s);
            Tensor got = run(be, t, Check.of(f, t), Check.of(h, t), Check.of(u, t), Check.of(v, t), Check.of(go, t), s);
            Check.scaled("K=" + k + " out|gh", ref, got, Check.tol(t));
        }
    }

    /** Forward output and gh (through the PDE and the diffusivity), concatenated. */
    private static Tensor run(dev.pdecnn.backend.Backend be, DType t, Tensor f, Tensor h, Tensor u, Tensor v,
                              Tensor go, PdeSpec s) {
        int[] sh = f.shape();
        Tensor dx = Tensor.zeros(t, sh), dy = Tensor.zeros(t, sh), out = Tensor.zeros(t, sh);
        be.peronaMalik(h, 2.0, dx, dy);
        be.pdeForward(f, h, u, v, dx, dy, 0, s, out);
        Tensor gf = Tensor.zeros(t, sh), gh = Tensor.zeros(t, sh), gu = Tensor.zeros(t, sh), gv = Tensor.zeros(t, sh);
        Tensor gdx = Tensor.zeros(t, sh), gdy = Tensor.zeros(t, sh);
        be.pdeBackward(f, h, u, v, dx, dy, 0, s, go, gf, gh, gu, gv, gdx, gdy);
        be.peronaMalikBackward(h, 2.0, gdx, gdy, gh);
        out.download();
        gh.download();
        Tensor all = Tensor.zeros(DType.F64, 2 * out.size());
        for (int i = 0; i < out.size(); i++) {
            all.set(i, out.get(i));
            all.set(out.size() + i, gh.get(i));
        }
        return all;
    }
}
