package dev.pdecnn.models;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.nn.BatchNorm2d;
import dev.pdecnn.nn.Conv2d;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.PdeOp;
import dev.pdecnn.tensor.Tensor;

/** The three C -> C feature blocks of the study's MNIST illustrative example (docs/design.md §2). */
public final class MnistBlocks {
    private MnistBlocks() {
    }

    /** A block that remembers its last forward output, for figures of its feature maps. */
    public interface FeatureBlock {
        Tensor lastOutput();
    }

    /** out = relu(BN(conv3x3(f))). */
    public static final class Cnn extends Module implements FeatureBlock {
        private final Conv2d conv;
        private final BatchNorm2d bn;
        private Tensor lastOutput;

        public Cnn(Backend be, int c, BatchNorm2d.Spec bnSpec) {
            super(be);
            conv = child("conv", Conv2d.conv3x3(be, c, c, 1));
            bn = child("bn", BatchNorm2d.withRelu(be, c, bnSpec));
        }

        @Override
        public Tensor forward(Tensor f) {
            return lastOutput = bn.forward(conv.forward(f));
        }

        @Override
        public Tensor lastOutput() {
            return lastOutput;
        }

        @Override
        public Tensor backward(Tensor gy) {
            return conv.backward(bn.backward(gy));
        }

        @Override
        public long macs(int[] chw) {
            return conv.macs(chw);
        }
    }

    /** out = relu(BN_out(f + conv3x3(relu(BN(f))))). */
    public static final class Residual extends Module implements FeatureBlock {
        private final BatchNorm2d bnPre, bnOut;
        private final Conv2d conv;
        private Tensor lastOutput;

        public Residual(Backend be, int c, BatchNorm2d.Spec bn) {
            super(be);
            bnPre = child("bn_pre", BatchNorm2d.withRelu(be, c, bn));
            conv = child("conv", Conv2d.conv3x3(be, c, c, 1));
            bnOut = child("bn_out", BatchNorm2d.withRelu(be, c, bn));
        }

        @Override
        public Tensor forward(Tensor f) {
            Tensor r = conv.forward(bnPre.forward(f));
            be.add(r, f, r);
            return lastOutput = bnOut.forward(r);
        }

        @Override
        public Tensor lastOutput() {
            return lastOutput;
        }

        @Override
        public Tensor backward(Tensor gy) {
            Tensor g = bnOut.backward(gy);
            Tensor gf = bnPre.backward(conv.backward(g));
            be.add(gf, g, gf);
            return gf;
        }

        @Override
        public long macs(int[] chw) {
            return conv.macs(chw);
        }
    }

    /**
     * u = v = conv3x3(relu(BN(f))) (no relu on u), D constant or Perona–Malik of f, H(-1) = H(0) = f,
     * K steps, out = relu(BN_out(H(K))).
     */
    public static final class Pde extends Module implements FeatureBlock {
        private final BatchNorm2d bnPre, bnOut;
        private final Conv2d conv;
        private final PdeOp pde;
        private final boolean peronaMalik;
        private final double dConst, lambda;
        private Tensor f;
        private Tensor lastOutput, lastVelocity, lastDiffusivity;

        public Pde(Backend be, int c, PdeSpec spec, boolean peronaMalik, double dConst, double lambda,
                   BatchNorm2d.Spec bn) {
            super(be);
            bnPre = child("bn_pre", BatchNorm2d.withRelu(be, c, bn));
            conv = child("conv", Conv2d.conv3x3(be, c, c, 1));
            bnOut = child("bn_out", BatchNorm2d.withRelu(be, c, bn));
            pde = new PdeOp(be, spec);
            this.peronaMalik = peronaMalik;
            this.dConst = dConst;
            this.lambda = lambda;
        }

        /** The time stepping (K, dt, dx, dy). */
        public PdeSpec pdeSpec() {
            return pde.spec();
        }

        /** Whether the diffusivity is Perona–Malik of f ({@link #lambda()}); else the constant {@link #dConst()}. */
        public boolean peronaMalik() {
            return peronaMalik;
        }

        public double dConst() {
            return dConst;
        }

        public double lambda() {
            return lambda;
        }

        @Override
        public Tensor forward(Tensor in) {
            f = in;
            Tensor u = conv.forward(bnPre.forward(in));
            lastVelocity = u;
            Tensor dX = null, dY = null;
            if (peronaMalik) {
                dX = in.zerosLike();
                dY = in.zerosLike();
                be.peronaMalik(in, lambda, dX, dY);
            }
            lastDiffusivity = dX;
            Tensor hK = pde.forward(in, in, u, u, dX, dY, dConst);
            return lastOutput = bnOut.forward(hK);
        }

        @Override
        public Tensor lastOutput() {
            return lastOutput;
        }

        /** The velocity u = v of the last forward pass. */
        public Tensor lastVelocity() {
            return lastVelocity;
        }

        /** The Perona-Malik Dx of the last forward pass, or null for constant diffusivity. */
        public Tensor lastDiffusivity() {
            return lastDiffusivity;
        }

        @Override
        public Tensor backward(Tensor gy) {
            PdeOp.Grads g = pde.backward(bnOut.backward(gy));
            Tensor gf = g.f();
            be.add(gf, g.h(), gf);
            Tensor gu = g.u();
            be.add(gu, g.v(), gu);
            be.add(gf, bnPre.backward(conv.backward(gu)), gf);
            if (peronaMalik) {
                be.peronaMalikBackward(f, lambda, g.dX(), g.dY(), gf);
            }
            f = null;
            return gf;
        }

        @Override
        public long macs(int[] chw) {
            return conv.macs(chw);
        }

        public long stencilFlops(int[] chw) {
            return PdeOp.stencilFlops(chw, pde.spec().steps());
        }
    }
}
