package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.tensor.Tensor;

/**
 * The fused K-step PDE evolution as a differentiable operation of six inputs (f, h, u, v, Dx, Dy). It keeps
 * references to its inputs only: the backend recomputes the states in the backward pass, so no per-step
 * temporaries live between forward and backward.
 */
public final class PdeOp {
    /** Input gradients; a field is null when its input was absent (zero velocity, constant diffusivity). */
    public record Grads(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY) {
    }

    private final Backend be;
    private final PdeSpec spec;
    private Tensor f, h, u, v, dX, dY;
    private double dConst;

    public PdeOp(Backend be, PdeSpec spec) {
        this.be = be;
        this.spec = spec;
    }

    public PdeSpec spec() {
        return spec;
    }

    public Tensor forward(Tensor f, Tensor h, Tensor u, Tensor v, Tensor dX, Tensor dY, double dConst) {
        this.f = f;
        this.h = h;
        this.u = u;
        this.v = v;
        this.dX = dX;
        this.dY = dY;
        this.dConst = dConst;
        Tensor out = be.arena().like(f);
        be.pdeForward(f, h, u, v, dX, dY, dConst, spec, out);
        return out;
    }

    public Grads backward(Tensor gOut) {
        Tensor gf = be.arena().like(f), gh = be.arena().like(f);
        Tensor gu = u == null ? null : be.arena().like(f), gv = v == null ? null : be.arena().like(f);
        Tensor gdx = dX == null ? null : be.arena().like(f), gdy = dY == null ? null : be.arena().like(f);
        be.pdeBackward(f, h, u, v, dX, dY, dConst, spec, gOut, gf, gh, gu, gv, gdx, gdy);
        f = h = u = v = dX = dY = null;
        return new Grads(gf, gh, gu, gv, gdx, gdy);
    }

    /** Element-wise work of the stencil per image: about 15 flops per element per step (reported apart from MACs). */
    public static long stencilFlops(int[] chw, int steps) {
        return 15L * chw[0] * chw[1] * chw[2] * steps;
    }
}
