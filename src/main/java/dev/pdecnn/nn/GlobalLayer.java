package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.StepArena;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.Velocity;
import dev.pdecnn.tensor.Tensor;

/**
 * The Global layer of docs/design.md §1: h = init(f); velocity u = relu(BN_u(Vu(h))), v likewise (or zero, or
 * relu(BN_u(Vu(0))) for {@link Velocity#ZERO_INPUT});
 * diffusivity Dx, Dy learned as relu(BN(W(h))), constant, Perona–Malik of h, or zero; then K steps of the
 * advection–diffusion recursion from H(-1) = f, H(0) = h, and out = relu(BN_out(H(K))).
 */
public final class GlobalLayer extends Module {
    private final GlobalSpec spec;
    private final Module init;
    private final Sequential velU, velV, diffX, diffY;
    private final BatchNorm2d bnOut;
    private final PdeOp pde;
    private Tensor h, pmDx;
    /**
     * The zeros a ZERO_INPUT layer feeds its velocity networks: module state for the largest batch seen so far,
     * made zero once and only ever read, so a device neither refills it per step (no memset beside the gradients'
     * one) nor moves it (a CUDA graph keeps its address); a smaller batch (an epoch's last) reads a view of it.
     */
    private Tensor zeroInput;

    public GlobalLayer(Backend be, int c, GlobalSpec spec) {
        this(be, c, spec, BatchNorm2d.Spec.DEFAULT);
    }

    public GlobalLayer(Backend be, int c, GlobalSpec spec, BatchNorm2d.Spec bn) {
        super(be);
        this.spec = spec;
        init = spec.init() == SubNet.BASIC ? child("init", new BasicBlock(be, c, c, 1, bn)) : new Identity(be);
        if (spec.velocity() != Velocity.ZERO) {
            velU = child("vel_u", branch(be, spec.velocityNet(), c, bn));
            velV = child("vel_v", branch(be, spec.velocityNet(), c, bn));
        } else {
            velU = velV = null;
        }
        if (spec.diffusivity() == Diffusivity.LEARNED) {
            diffX = child("diff_x", branch(be, spec.diffusivityNet(), c, bn));
            diffY = child("diff_y", branch(be, spec.diffusivityNet(), c, bn));
        } else {
            diffX = diffY = null;
        }
        bnOut = child("bn_out", BatchNorm2d.withRelu(be, c, bn));
        pde = new PdeOp(be, spec.pde());
    }

    /** relu(BN(net(h))), with names "net.*" and "bn.*" inside the branch. */
    private static Sequential branch(Backend be, SubNet kind, int c, BatchNorm2d.Spec bn) {
        Sequential s = new Sequential(be);
        Module net = subNet(be, kind, c, bn);
        if (!(net instanceof Identity)) {
            s.add("net", net);
        }
        return s.add("bn", BatchNorm2d.withRelu(be, c, bn));
    }

    public static Module subNet(Backend be, SubNet kind, int c, BatchNorm2d.Spec bn) {
        return switch (kind) {
            case IDENTITY -> new Identity(be);
            case DWCONV -> Conv2d.depthwise3x3(be, c);
            case CONV -> Conv2d.conv3x3(be, c, c, 1);
            case PWCONV -> Conv2d.conv1x1(be, c, c, 1);
            case BASIC -> new BasicBlock(be, c, c, 1, bn);
        };
    }

    public GlobalSpec spec() {
        return spec;
    }

    @Override
    public Tensor forward(Tensor f) {
        h = init.forward(f);
        Tensor g0 = spec.velocity() == Velocity.ZERO_INPUT ? zeros(h) : h;
        Tensor u = velU == null ? null : velU.forward(g0);
        Tensor v = velV == null ? null : velV.forward(g0);
        Tensor dX = null, dY = null;
        double dConst = 0;
        switch (spec.diffusivity()) {
            case LEARNED -> {
                dX = diffX.forward(h);
                dY = diffY.forward(h);
            }
            case PERONA_MALIK -> {
                dX = be.arena().like(h);
                dY = be.arena().like(h);
                be.peronaMalik(h, spec.pmLambda(), dX, dY);
                pmDx = dX;
            }
            case CONSTANT -> dConst = spec.diffusivityConstant();
            case ZERO -> dConst = 0;
        }
        Tensor out = pde.forward(f, h, u, v, dX, dY, dConst);
        return bnOut.forward(out);
    }

    @Override
    public Tensor backward(Tensor gy) {
        Tensor gOut = bnOut.backward(gy);
        PdeOp.Grads g = pde.backward(gOut);
        StepArena arena = be.arena();
        arena.release(gOut); // each gradient below is given back once consumed (see StepArena)
        Tensor gh = g.h();
        if (spec.velocity() == Velocity.ZERO_INPUT) {
            // the branches' parameters get their gradients; their input was a constant, so h gets nothing
            giveBack(velU.backward(g.u()), g.u());
            giveBack(velV.backward(g.v()), g.v());
        } else if (velU != null) {
            addInto(gh, velU.backward(g.u()), g.u());
            addInto(gh, velV.backward(g.v()), g.v());
        }
        if (diffX != null) {
            addInto(gh, diffX.backward(g.dX()), g.dX());
            addInto(gh, diffY.backward(g.dY()), g.dY());
        } else if (pmDx != null) {
            be.peronaMalikBackward(h, spec.pmLambda(), g.dX(), g.dY(), gh);
            arena.release(g.dX());
            arena.release(g.dY());
            pmDx = null;
        }
        Tensor gf = g.f();
        addInto(gf, init.backward(gh), gh);
        h = null;
        return gf;
    }

    /** acc += part, then gives back part and the gradient it came from (the same tensor for an identity). */
    private void addInto(Tensor acc, Tensor part, Tensor from) {
        be.add(acc, part, acc);
        giveBack(part, from);
    }

    /** Gives back an unused input gradient and the gradient it came from. */
    private void giveBack(Tensor part, Tensor from) {
        be.arena().release(part);
        be.arena().release(from);
    }

    /** Zeros of h's shape (the study's {@code tf.zeros(h.shape)}), see {@link #zeroInput}. */
    private Tensor zeros(Tensor like) {
        int[] s = like.shape();
        if (zeroInput == null || zeroInput.dim(0) < s[0]) {
            zeroInput = be.state(s); // a larger batch than before: rare (the first step, a larger evaluation batch)
        }
        return zeroInput.dim(0) == s[0] ? zeroInput : Tensor.view(zeroInput, 0, s);
    }

    @Override
    public long macs(int[] chw) {
        long m = init.macs(chw);
        for (Module b : new Module[]{velU, velV, diffX, diffY}) {
            if (b != null) {
                m += b.macs(chw);
            }
        }
        return m;
    }

    /** Element-wise PDE work per image, reported apart from conv+dense MACs. */
    public long stencilFlops(int[] chw) {
        return PdeOp.stencilFlops(chw, spec.pde().steps());
    }
}
