package dev.pdecnn.selfcheck;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.ConvAlgo;
import dev.pdecnn.backend.cuda.Precision;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;
import java.util.SplittableRandom;

import static dev.pdecnn.selfcheck.Compare.of;
import static dev.pdecnn.selfcheck.Compare.pair;

/**
 * The kernel families of the device check, each in float32 and float64 against {@link ReferenceBackend} on the
 * same (float-representable) random inputs, at sizes that are not multiples of a block: the convolutions of every
 * shape class the models use through both kernel families (implicit GEMM and direct), batch norm (plain and fused
 * with ReLU), the fused PDE forward and backward (learned and constant diffusivity, zero velocity, a plane too
 * large for one block, the per-step kernels), Perona–Malik, the element-wise operations, dense and loss, SGD. A
 * smaller version of the kernel equality suite of the tests, with its tolerances ({@link Compare}).
 */
final class KernelChecks {
    private static final ReferenceBackend CPU = new ReferenceBackend();

    /** name, n, c, h, w, co, k, stride, pad, groups: the model's shape classes, odd sizes. */
    static final Object[][] CONVS = {
            {"3x3 s1 3->16 (stem)", 2, 3, 12, 11, 16, 3, 1, 1, 1},
            {"3x3 s1 16->16", 2, 16, 10, 9, 16, 3, 1, 1, 1},
            {"3x3 s2 16->32", 2, 16, 11, 10, 32, 3, 2, 1, 1},
            {"1x1 s2 16->32 (shortcut)", 2, 16, 11, 10, 32, 1, 2, 0, 1},
            {"3x3 s1 64->64 8x8", 2, 64, 8, 8, 64, 3, 1, 1, 1},
            {"depthwise 3x3 s1", 3, 8, 9, 11, 8, 3, 1, 1, 8},
            {"depthwise 3x3 s2", 2, 6, 9, 8, 6, 3, 2, 1, 6},
            {"grouped 3x3 g2", 2, 8, 7, 7, 12, 3, 1, 1, 2},
            {"3x3 s1 1->8 28x28 (MNIST)", 2, 1, 28, 28, 8, 3, 1, 1, 1},
    };

    private KernelChecks() {
    }

    static void run(DeviceCheck c) {
        for (DType t : DType.values()) {
            String ty = " " + t.name().toLowerCase(java.util.Locale.ROOT);
            for (Object[] cv : CONVS) {
                for (ConvAlgo a : new ConvAlgo[]{ConvAlgo.GEMM, ConvAlgo.DIRECT}) {
                    c.check("conv " + cv[0] + " " + a.name().toLowerCase(java.util.Locale.ROOT) + ty, Compare.tol(t),
                            () -> conv(c.backend(t, o -> o.withConv(a)), t, cv, false));
                }
            }
            c.check("batch norm train/eval/backward" + ty, Compare.tol(t), () -> batchNorm(c.backend(t), t));
            c.check("batch norm + relu fused" + ty, Compare.tol(t), () -> batchNormRelu(c.backend(t), t));
            c.check("relu, add, add+relu, avg pool" + ty, Compare.tol(t), () -> elementwise(c.backend(t), t));
            c.check("dense, softmax cross-entropy" + ty, Compare.tol(t), () -> denseLoss(c.backend(t), t));
            c.check("sgd momentum + weight decay, sum of squares" + ty, Compare.tol(t), () -> sgd(c.backend(t), t));
            for (int[] p : new int[][]{{2, 3, 13, 11, 2}, {2, 2, 32, 32, 1}, {1, 2, 28, 28, 0}, {1, 1, 40, 36, 2}}) {
                String d = new String[]{"zero v, constant D", "learned v, constant D", "learned v, learned D"}[p[4]];
                c.check("pde " + p[0] + "x" + p[1] + "x" + p[2] + "x" + p[3] + " K=5 " + d + ty, Compare.tol(t),
                        () -> pde(c.backend(t), t, Arrays.copyOf(p, 4), new PdeSpec(5, 0.2, 1, 1), p[4] > 0, p[4] == 2));
            }
            c.check("pde per-step kernels 2x2x6x9 K=3" + ty, Compare.tol(t),
                    () -> pde(c.backend(t, o -> o.withPdeStepKernels(true)), t, new int[]{2, 2, 6, 9},
                            new PdeSpec(3, 0.2, 1.3, 0.8), true, true));
            c.check("perona-malik diffusivity and gradient" + ty, Compare.tol(t), () -> peronaMalik(c.backend(t), t));
        }
    }

    /** The TF32 implicit GEMMs (convolutions, the dense layer) where the device has tensor cores for them. */
    static void tf32(DeviceCheck c) {
        if (!c.runner().tf32Capable()) {
            c.skip("tf32", "no TF32 tensor-core code for this device (compute capability < 8.0, or the PTX JIT path)");
            return;
        }
        for (Object[] cv : CONVS) {
            c.check("conv " + cv[0] + " tf32", Compare.TF32_TOL, () -> conv(c.backend(DType.F32,
                    o -> o.withConv(ConvAlgo.GEMM).withPrecision(Precision.TF32)), DType.F32, cv, true));
        }
        c.check("dense tf32", Compare.TF32_TOL, () -> denseTf32(c.backend(DType.F32, o -> o.withPrecision(Precision.TF32))));
    }

    private static SplittableRandom random(String what) {
        return new SplittableRandom(what.hashCode() * 31L + 7);
    }

    /** Forward, data and filter gradient (accumulated); {@code tf32}: against the TF32-rounded operands. */
    static DeviceCheck.Measured conv(CudaBackend be, DType t, Object[] cv, boolean tf32) {
        int n = (int) cv[1], c = (int) cv[2], h = (int) cv[3], w = (int) cv[4], co = (int) cv[5], k = (int) cv[6];
        ConvSpec s = new ConvSpec((int) cv[7], (int) cv[8], (int) cv[9]);
        int ho = s.outSize(h, k), wo = s.outSize(w, k), cg = c / s.groups();
        SplittableRandom r = random((String) cv[0]);
        Tensor[] x = pair(r, n, c, h, w), wt = pair(r, co, cg, k, k), gy = pair(r, n, co, ho, wo), gw = pair(r, co, cg, k, k);
        Tensor xr = tf32 ? Compare.tf32(x[1]) : x[1], wr = tf32 ? Compare.tf32(wt[1]) : wt[1];
        Tensor gyr = tf32 ? Compare.tf32(gy[1]) : gy[1];
        DeviceCheck.Measured m = new DeviceCheck.Measured();

        Tensor y = Tensor.zeros(DType.F64, n, co, ho, wo), yG = Tensor.zeros(t, n, co, ho, wo);
        CPU.conv2dForward(xr, wr, y, s);
        be.conv2dForward(of(x, t).copy(), of(wt, t).copy(), yG, s);
        m.scaled("y", y, yG);
        if (tf32) { // the tensor cores ran: the result is off the unrounded reference by the rounding of the inputs
            Tensor exact = Tensor.zeros(DType.F64, n, co, ho, wo);
            CPU.conv2dForward(x[1], wt[1], exact, s);
            m.require(Compare.scaled(exact, yG) > Compare.TF32_TOL, "y equals the unrounded reference: not TF32");
        }
        Tensor gx = Tensor.zeros(DType.F64, n, c, h, w), gwR = gw[1].copy();
        CPU.conv2dBackward(xr, wr, gyr, gx, null, s);
        CPU.conv2dBackward(xr, wr, gyr, null, gwR, s);
        Tensor gxG = Tensor.zeros(t, n, c, h, w), gwG = of(gw, t).copy();
        be.conv2dBackward(of(x, t).copy(), of(wt, t).copy(), of(gy, t).copy(), gxG, gwG, s);
        return m.scaled("gx", gx, gxG).scaled("gw (accumulated)", gwR, gwG);
    }

    static DeviceCheck.Measured batchNorm(CudaBackend be, DType t) {
        SplittableRandom r = random("bn");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int[] sh : new int[][]{{3, 5, 1, 1}, {2, 3, 5, 7}, {4, 16, 8, 8}}) {
            int c = sh[1];
            String at = Arrays.toString(sh) + " ";
            Tensor[] x = pair(r, 2, 0.7, false, sh), gy = pair(r, sh), gamma = pair(r, 0.5, 1, false, c);
            Tensor[] beta = pair(r, c), rm = pair(r, c), rv = pair(r, 0.5, 0.5, true, c), gg = pair(r, c), gb = pair(r, c);
            Tensor y = Tensor.zeros(DType.F64, sh), sm = Tensor.zeros(DType.F64, c), si = Tensor.zeros(DType.F64, c);
            Tensor rmRef = rm[1].copy(), rvRef = rv[1].copy();
            CPU.batchNormTrain(x[1], gamma[1], beta[1], rmRef, rvRef, 0.01, 1e-3, y, sm, si);
            Tensor yG = Tensor.zeros(t, sh), smG = Tensor.zeros(t, c), siG = Tensor.zeros(t, c);
            Tensor rmG = of(rm, t).copy(), rvG = of(rv, t).copy();
            be.batchNormTrain(of(x, t).copy(), of(gamma, t).copy(), of(beta, t).copy(), rmG, rvG, 0.01, 1e-3, yG, smG, siG);
            m.scaled(at + "train y", y, yG).scaled(at + "saved mean", sm, smG).scaled(at + "saved inv std", si, siG)
                    .scaled(at + "running mean", rmRef, rmG).scaled(at + "running var", rvRef, rvG);

            Tensor ye = Tensor.zeros(DType.F64, sh), yeG = Tensor.zeros(t, sh);
            CPU.batchNormEval(x[1], gamma[1], beta[1], rm[1], rv[1], 1e-3, ye);
            be.batchNormEval(of(x, t).copy(), of(gamma, t).copy(), of(beta, t).copy(), of(rm, t).copy(),
                    of(rv, t).copy(), 1e-3, yeG);
            m.scaled(at + "eval y", ye, yeG);

            // backward from the reference's saved statistics in the device's precision, the same values on both sides
            Tensor smIn = sm.to(t), siIn = si.to(t);
            Tensor gx = Tensor.zeros(DType.F64, sh), ggRef = gg[1].copy(), gbRef = gb[1].copy();
            CPU.batchNormBackward(x[1], gy[1], gamma[1], smIn.to(DType.F64), siIn.to(DType.F64), gx, ggRef, gbRef);
            Tensor gxG = Tensor.zeros(t, sh), ggG = of(gg, t).copy(), gbG = of(gb, t).copy();
            be.batchNormBackward(of(x, t).copy(), of(gy, t).copy(), of(gamma, t).copy(), smIn, siIn, gxG, ggG, gbG);
            m.scaled(at + "gx", gx, gxG).scaled(at + "gGamma", ggRef, ggG).scaled(at + "gBeta", gbRef, gbG);
        }
        return m;
    }

    static DeviceCheck.Measured batchNormRelu(CudaBackend be, DType t) {
        SplittableRandom r = random("bn relu");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int[] sh : new int[][]{{3, 5, 1, 1}, {2, 3, 5, 7}, {4, 4, 16, 16}}) {
            int c = sh[1];
            String at = Arrays.toString(sh) + " ";
            Tensor[] x = pair(r, sh), gy = pair(r, sh), gamma = pair(r, 0.5, 1, false, c), beta = pair(r, c);
            Tensor[] rm = pair(r, c), rv = pair(r, 0.5, 0.5, true, c);
            Tensor y = Tensor.zeros(DType.F64, sh), sm = Tensor.zeros(DType.F64, c), si = Tensor.zeros(DType.F64, c);
            CPU.batchNormReluTrain(x[1], gamma[1], beta[1], rm[1].copy(), rv[1].copy(), 0.01, 1e-3, y, sm, si);
            Tensor yG = Tensor.zeros(t, sh), smG = Tensor.zeros(t, c), siG = Tensor.zeros(t, c);
            be.batchNormReluTrain(of(x, t).copy(), of(gamma, t).copy(), of(beta, t).copy(), of(rm, t).copy(),
                    of(rv, t).copy(), 0.01, 1e-3, yG, smG, siG);
            m.scaled(at + "train y", y, yG);
            Tensor ye = Tensor.zeros(DType.F64, sh), yeG = Tensor.zeros(t, sh);
            CPU.batchNormReluEval(x[1], gamma[1], beta[1], rm[1], rv[1], 1e-3, ye);
            be.batchNormReluEval(of(x, t).copy(), of(gamma, t).copy(), of(beta, t).copy(), of(rm, t).copy(),
                    of(rv, t).copy(), 1e-3, yeG);
            m.scaled(at + "eval y", ye, yeG);
            // backward: the device's own forward output and statistics on both sides, so the ReLU masks agree
            Tensor yIn = yG.download().copy(), smIn = smG.download().copy(), siIn = siG.download().copy();
            Tensor gx = Tensor.zeros(DType.F64, sh), gg = Tensor.zeros(DType.F64, c), gb = Tensor.zeros(DType.F64, c);
            CPU.batchNormReluBackward(x[1], yIn.to(DType.F64), gy[1], gamma[1], smIn.to(DType.F64), siIn.to(DType.F64),
                    gx, gg, gb);
            Tensor gxG = Tensor.zeros(t, sh), ggG = Tensor.zeros(t, c), gbG = Tensor.zeros(t, c);
            be.batchNormReluBackward(of(x, t).copy(), yIn, of(gy, t).copy(), of(gamma, t).copy(), smIn, siIn, gxG, ggG,
                    gbG);
            m.scaled(at + "gx", gx, gxG).scaled(at + "gGamma", gg, ggG).scaled(at + "gBeta", gb, gbG);
        }
        return m;
    }

    static DeviceCheck.Measured elementwise(CudaBackend be, DType t) {
        SplittableRandom r = random("elementwise");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        int[] sh = {3, 5, 8, 8};
        Tensor[] a = pair(r, sh), b = pair(r, sh), gy = pair(r, sh);
        Tensor y = Tensor.zeros(DType.F64, sh), yG = Tensor.zeros(t, sh);
        CPU.relu(a[1], y);
        be.relu(of(a, t).copy(), yG);
        m.relative("relu", y, yG);
        Tensor gx = Tensor.zeros(DType.F64, sh), gxG = Tensor.zeros(t, sh);
        CPU.reluBackward(y, gy[1], gx);
        be.reluBackward(yG, of(gy, t).copy(), gxG);
        m.relative("relu backward", gx, gxG);
        Tensor s = Tensor.zeros(DType.F64, sh), sG = Tensor.zeros(t, sh);
        CPU.add(a[1], b[1], s);
        be.add(of(a, t).copy(), of(b, t).copy(), sG);
        m.relative("add", s, sG);
        Tensor ar = a[1].copy(), arG = of(a, t).copy(), yr = Tensor.zeros(DType.F64, sh), yrG = Tensor.zeros(t, sh);
        CPU.addRelu(ar, b[1], yr);
        be.addRelu(arG, of(b, t).copy(), yrG);
        m.relative("add + relu", yr, yrG);
        for (int k : new int[]{2, 8}) { // a stride-2 pooling and the global pooling before the dense layer
            int[] so = {3, 5, 8 / k, 8 / k};
            Tensor p = Tensor.zeros(DType.F64, so), pG = Tensor.zeros(t, so);
            CPU.avgPool(a[1], k, p);
            be.avgPool(of(a, t).copy(), k, pG);
            m.scaled("avg pool " + k, p, pG);
            Tensor[] gp = pair(r, so);
            Tensor g = Tensor.zeros(DType.F64, sh), gG = Tensor.zeros(t, sh);
            CPU.avgPoolBackward(gp[1], k, g);
            be.avgPoolBackward(of(gp, t).copy(), k, gG);
            m.relative("avg pool backward " + k, g, gG);
        }
        return m;
    }

    static DeviceCheck.Measured denseLoss(CudaBackend be, DType t) {
        SplittableRandom r = random("dense");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int[] c : new int[][]{{5, 7, 3}, {33, 130, 10}, {4, 8 * 7 * 7, 10}}) {
            int n = c[0], in = c[1], out = c[2];
            String at = n + "x" + in + "->" + out + " ";
            Tensor[] x = pair(r, n, in), w = pair(r, out, in), b = pair(r, out), gy = pair(r, n, out);
            Tensor[] gw = pair(r, out, in), gb = pair(r, out);
            Tensor y = Tensor.zeros(DType.F64, n, out), yG = Tensor.zeros(t, n, out);
            CPU.dense(x[1], w[1], b[1], y);
            be.dense(of(x, t).copy(), of(w, t).copy(), of(b, t).copy(), yG);
            Tensor gx = Tensor.zeros(DType.F64, n, in), gwR = gw[1].copy(), gbR = gb[1].copy();
            CPU.denseBackward(x[1], w[1], gy[1], gx, gwR, gbR);
            Tensor gxG = Tensor.zeros(t, n, in), gwG = of(gw, t).copy(), gbG = of(gb, t).copy();
            be.denseBackward(of(x, t).copy(), of(w, t).copy(), of(gy, t).copy(), gxG, gwG, gbG);
            m.scaled(at + "y", y, yG).scaled(at + "gx", gx, gxG).scaled(at + "gw", gwR, gwG).scaled(at + "gb", gbR, gbG);

            Tensor[] logits = pair(r, 3, 0, false, n, out);
            int[] labels = r.ints(n, 0, out).toArray(), pred = new int[n], predG = new int[n];
            Tensor g = Tensor.zeros(DType.F64, n, out), gG = Tensor.zeros(t, n, out);
            double loss = CPU.softmaxCrossEntropy(logits[1], labels, g, pred);
            double lossG = be.softmaxCrossEntropy(of(logits, t).copy(), labels, gG, predG);
            // the loss is summed in double on both sides from the same logits: within 1e-12 relative (the suite's
            // bound), expressed in units of this check's tolerance
            m.add(at + "loss", Math.abs(loss - lossG) / Math.abs(loss) * Compare.tol(t) / Compare.F64_TOL);
            m.scaled(at + "gLogits", g, gG).require(Arrays.equals(pred, predG), at + "predictions differ");
        }
        return m;
    }

    static DeviceCheck.Measured sgd(CudaBackend be, DType t) {
        SplittableRandom r = random("sgd");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int n : new int[]{1, 3 * 256 + 5, 40_000}) {
            Tensor[] w = pair(r, n), g = pair(r, n), vel = pair(r, 0.1, 0, false, n);
            Tensor rw = w[1].copy(), rv = vel[1].copy(), gw = of(w, t).copy(), gv = of(vel, t).copy();
            for (int step = 0; step < 3; step++) { // three steps: the velocity carries over
                CPU.sgdStep(rw, g[1], rv, 0.01 * (step + 1), 0.9, 5e-4);
                be.sgdStep(gw, of(g, t).copy(), gv, 0.01 * (step + 1), 0.9, 5e-4);
            }
            m.scaled("velocity n=" + n, rv, gv).scaled("weights n=" + n, rw, gw);
            // both sum n non-negative terms in double, in different orders: within n eps of the exact sum each, so
            // within 2 n eps of each other (in units of this check's tolerance)
            double ref = CPU.sumSquares(w[1]), got = be.sumSquares(of(w, t).copy());
            m.add("sum of squares n=" + n, Math.abs(ref - got) / (2 * n * Math.ulp(1.0) * ref) * Compare.tol(t));
        }
        return m;
    }

    /** {@code sh}: n, c, h, w; {@code vel}: learned velocities (else zero); {@code learnedD}: else constant 1. */
    static DeviceCheck.Measured pde(CudaBackend be, DType t, int[] sh, PdeSpec s, boolean vel, boolean learnedD) {
        SplittableRandom r = random("pde " + Arrays.toString(sh) + s + vel + learnedD);
        Tensor[] f = pair(r, sh), h = pair(r, sh), go = pair(r, sh);
        Tensor[] u = vel ? pair(r, sh) : null, v = vel ? pair(r, sh) : null;
        Tensor[] dx = learnedD ? pair(r, 0.6, 0, true, sh) : null, dy = learnedD ? pair(r, 0.6, 0, true, sh) : null;
        double dConst = learnedD ? 0 : 1;
        Tensor out = Tensor.zeros(DType.F64, sh), outG = Tensor.zeros(t, sh);
        CPU.pdeForward(f[1], h[1], of(u, DType.F64), of(v, DType.F64), of(dx, DType.F64), of(dy, DType.F64), dConst, s, out);
        be.pdeForward(copy(f, t), copy(h, t), copy(u, t), copy(v, t), copy(dx, t), copy(dy, t), dConst, s, outG);
        DeviceCheck.Measured m = new DeviceCheck.Measured().scaled("forward", out, outG);
        Tensor[] ref = new Tensor[6], got = new Tensor[6];
        for (int i = 0; i < 6; i++) {
            boolean wanted = i < 2 || (i < 4 ? vel : learnedD);
            ref[i] = wanted ? Tensor.zeros(DType.F64, sh) : null;
            got[i] = wanted ? Tensor.zeros(t, sh) : null;
        }
        CPU.pdeBackward(f[1], h[1], of(u, DType.F64), of(v, DType.F64), of(dx, DType.F64), of(dy, DType.F64), dConst, s,
                go[1], ref[0], ref[1], ref[2], ref[3], ref[4], ref[5]);
        be.pdeBackward(copy(f, t), copy(h, t), copy(u, t), copy(v, t), copy(dx, t), copy(dy, t), dConst, s, copy(go, t),
                got[0], got[1], got[2], got[3], got[4], got[5]);
        String[] names = {"gf", "gh", "gu", "gv", "gDx", "gDy"};
        for (int i = 0; i < 6; i++) {
            if (ref[i] != null) {
                m.scaled(names[i], ref[i], got[i]);
            }
        }
        return m;
    }

    static DeviceCheck.Measured peronaMalik(CudaBackend be, DType t) {
        SplittableRandom r = random("perona-malik");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int[] sh : new int[][]{{1, 2, 2, 5}, {2, 3, 9, 10}, {2, 1, 28, 28}}) {
            String at = Arrays.toString(sh) + " ";
            Tensor[] h = pair(r, 2, 0, false, sh), gdx = pair(r, sh), gdy = pair(r, sh), gh = pair(r, sh);
            Tensor dx = Tensor.zeros(DType.F64, sh), dy = Tensor.zeros(DType.F64, sh);
            CPU.peronaMalik(h[1], 2.0, dx, dy);
            Tensor dxG = Tensor.zeros(t, sh), dyG = Tensor.zeros(t, sh);
            be.peronaMalik(of(h, t).copy(), 2.0, dxG, dyG);
            m.relative(at + "Dx", dx, dxG).relative(at + "Dy", dy, dyG);
            Tensor ghRef = gh[1].copy(), ghG = of(gh, t).copy();
            CPU.peronaMalikBackward(h[1], 2.0, gdx[1], gdy[1], ghRef);
            be.peronaMalikBackward(of(h, t).copy(), 2.0, of(gdx, t).copy(), of(gdy, t).copy(), ghG);
            m.scaled(at + "gh (accumulated)", ghRef, ghG);
        }
        return m;
    }

    /** Dense forward and gradients in TF32 against the TF32-rounded reference (the bias gradient stays fp32). */
    static DeviceCheck.Measured denseTf32(CudaBackend be) {
        SplittableRandom r = random("dense tf32");
        DeviceCheck.Measured m = new DeviceCheck.Measured();
        for (int[] c : new int[][]{{5, 7, 3}, {33, 300, 200}, {128, 64, 10}}) {
            int n = c[0], in = c[1], out = c[2];
            String at = n + "x" + in + "->" + out + " ";
            Tensor[] x = pair(r, n, in), w = pair(r, out, in), b = pair(r, out), gy = pair(r, n, out), gw = pair(r, out, in);
            Tensor xr = Compare.tf32(x[1]), wr = Compare.tf32(w[1]), gyr = Compare.tf32(gy[1]);
            Tensor y = Tensor.zeros(DType.F64, n, out), yG = Tensor.zeros(DType.F32, n, out);
            CPU.dense(xr, wr, b[1], y);
            be.dense(x[0].copy(), w[0].copy(), b[0].copy(), yG);
            Tensor gx = Tensor.zeros(DType.F64, n, in), gwR = gw[1].copy();
            CPU.denseBackward(xr, wr, gyr, gx, gwR, null);
            Tensor gxG = Tensor.zeros(DType.F32, n, in), gwG = gw[0].copy();
            be.denseBackward(x[0].copy(), w[0].copy(), gy[0].copy(), gxG, gwG, null);
            m.scaled(at + "y", y, yG).scaled(at + "gx", gx, gxG).scaled(at + "gw", gwR, gwG);
        }
        return m;
    }

    private static Tensor copy(Tensor[] pair, DType t) {
        return pair == null ? null : of(pair, t).copy();
    }
}
