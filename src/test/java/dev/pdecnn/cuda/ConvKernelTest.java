package dev.pdecnn.cuda;

import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.ConvAlgo;
import dev.pdecnn.backend.cuda.Precision;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Convolution forward, backward data and backward filter (accumulated) against the double-precision CPU
 * reference, for the geometries the models use — 3x3 stride 1 and 2, 1x1 stride 2, depthwise 3x3 — plus
 * grouped and many-output-channel cases, on sizes that are not multiples of the 64-wide tiles, through both
 * kernel families (implicit GEMM and direct) and the automatic choice.
 *
 * <p>TF32 ({@link #tf32ConvEqualsRoundedReference}): the implicit GEMMs on the tensor-core kernels (on the host
 * build, the WMMA emulation of host/wmma_host.h), for the cases above and every distinct convolution of the 16
 * models ({@link ModelConvShapes}: stem, 16/32/64-channel 3x3 s1 and s2, 1x1 s2 shortcuts, depthwise and the
 * Global layers' sub-networks, MNIST's 28x28 ones), batch 2, against the double reference on the same inputs
 * rounded to TF32 the way the kernels round them, within {@link Check#TF32_TOL}.
 */
class ConvKernelTest {
    /** Device lifetimes are explicit: the backends this test made give their buffers back. */
    @org.junit.jupiter.api.AfterEach
    void releaseBackends() {
        Kernels.releaseTracked();
    }

    /** name, n, c, h, w, co, k, stride, pad, groups. */
    static final Object[][] CASES = {
            {"3x3 s1 (stem 3->16)", 2, 3, 12, 11, 16, 3, 1, 1, 1},
            {"3x3 s1 16->16", 2, 16, 10, 9, 16, 3, 1, 1, 1},
            {"3x3 s2 16->32", 2, 16, 11, 10, 32, 3, 2, 1, 1},
            {"1x1 s2 16->32 shortcut", 2, 16, 11, 10, 32, 1, 2, 0, 1},
            {"depthwise 3x3 s1", 3, 8, 9, 11, 8, 3, 1, 1, 8},
            {"depthwise 3x3 s2", 2, 6, 9, 8, 6, 3, 2, 1, 6},
            {"grouped 3x3 g2", 2, 8, 7, 7, 12, 3, 1, 1, 2},
            {"1x1 s1 4->70 (two row tiles)", 2, 4, 5, 6, 70, 1, 1, 0, 1},
            {"3x3 s1 8->8 long reduction (split filter gradient)", 4, 8, 16, 16, 8, 3, 1, 1, 1},
    };

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Object[] c : CASES) {
            for (ConvAlgo a : ConvAlgo.values()) {
                for (DType t : DType.values()) {
                    Object[] args = new Object[c.length + 2];
                    System.arraycopy(c, 0, args, 0, c.length);
                    args[c.length] = a;
                    args[c.length + 1] = t;
                    out.add(Arguments.of(args));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {10} {11}")
    @MethodSource("cases")
    void convEqualsCpuReference(String name, int n, int c, int h, int w, int co, int k, int stride, int pad,
                                int groups, ConvAlgo algo, DType t) {
        CudaBackend be = Kernels.track(new CudaBackend(Kernels.runner(), t, Kernels.backend(t).options().withConv(algo)));
        ReferenceBackend cpu = new ReferenceBackend();
        ConvSpec s = new ConvSpec(stride, pad, groups);
        int ho = s.outSize(h, k), wo = s.outSize(w, k);
        SplittableRandom r = new SplittableRandom(name.hashCode() * 31L + t.ordinal());
        Tensor[] x = Check.pair(r, n, c, h, w), wt = Check.pair(r, co, c / groups, k, k);
        Tensor[] gy = Check.pair(r, n, co, ho, wo), gw = Check.pair(r, co, c / groups, k, k);
        double tol = Check.tol(t);

        Tensor y = Tensor.zeros(DType.F64, n, co, ho, wo), yG = Tensor.zeros(t, n, co, ho, wo);
        cpu.conv2dForward(x[1], wt[1], y, s);
        be.conv2dForward(Check.of(x, t), Check.of(wt, t), yG, s);
        Check.scaled("y", y, yG, tol);

        Tensor gx = Tensor.zeros(DType.F64, n, c, h, w), gwR = gw[1].copy();
        cpu.conv2dBackward(x[1], wt[1], gy[1], gx, gwR, s);
        Tensor gxG = Tensor.zeros(t, n, c, h, w), gwG = Check.of(gw, t).copy();
        be.conv2dBackward(Check.of(x, t), Check.of(wt, t), Check.of(gy, t), gxG, gwG, s);
        Check.scaled("gx", gx, gxG, tol);
        Check.scaled("gw (accumulated)", gwR, gwG, tol);

        // each gradient alone
        Tensor gxOnly = Tensor.zeros(t, n, c, h, w);
        be.conv2dBackward(Check.of(x, t), Check.of(wt, t), Check.of(gy, t), gxOnly, null, s);
        Check.scaled("gx alone", gx, gxOnly, tol);
        Tensor gwOnly = Check.of(gw, t).copy();
        be.conv2dBackward(Check.of(x, t), Check.of(wt, t), Check.of(gy, t), null, gwOnly, s);
        Check.scaled("gw alone", gwR, gwOnly, tol);
    }

    static Stream<Arguments> tf32Cases() {
        List<Arguments> out = new ArrayList<>();
        for (Object[] c : CASES) {
            out.add(Arguments.of(c));
        }
        for (Map.Entry<ModelConvShapes.Shape, String> e : ModelConvShapes.all().entrySet()) {
            ModelConvShapes.Shape s = e.getKey();
            out.add(Arguments.of(s.describe() + " (" + e.getValue() + ")", 2, s.c(), s.h(), s.w(), s.co(), s.k(),
                    s.stride(), s.pad(), s.groups()));
        }
        return out.stream();
    }

    /**
     * The three TF32 implicit GEMMs (every convolution forced onto them, the depthwise ones included) against the
     * double reference on TF32-rounded operands: forward (x, w rounded), data gradient (gy, w), filter gradient
     * (x, gy; accumulated into gw, which is not rounded). The forward result must also differ from the unrounded
     * reference by more than the tolerance: the tensor-core path, not the fp32 kernel, ran.
     */
    @ParameterizedTest(name = "{0} tf32")
    @MethodSource("tf32Cases")
    void tf32ConvEqualsRoundedReference(String name, int n, int c, int h, int w, int co, int k, int stride, int pad,
                                        int groups) {
        Kernels.assumeTf32();
        CudaBackend be = Kernels.track(new CudaBackend(Kernels.runner(), DType.F32,
                CudaBackend.defaultOptions(Kernels.runner()).withConv(ConvAlgo.GEMM).withPrecision(Precision.TF32)));
        ReferenceBackend cpu = new ReferenceBackend();
        ConvSpec s = new ConvSpec(stride, pad, groups);
        int ho = s.outSize(h, k), wo = s.outSize(w, k);
        SplittableRandom r = new SplittableRandom(name.hashCode() * 17L + 5);
        Tensor[] x = Check.pair(r, n, c, h, w), wt = Check.pair(r, co, c / groups, k, k);
        Tensor[] gy = Check.pair(r, n, co, ho, wo), gw = Check.pair(r, co, c / groups, k, k);
        Tensor xr = Check.tf32(x[1]), wr = Check.tf32(wt[1]), gyr = Check.tf32(gy[1]);

        Tensor y = Tensor.zeros(DType.F64, n, co, ho, wo), yExact = Tensor.zeros(DType.F64, n, co, ho, wo);
        Tensor yG = Tensor.zeros(DType.F32, n, co, ho, wo);
        cpu.conv2dForward(xr, wr, y, s);
        cpu.conv2dForward(x[1], wt[1], yExact, s);
        be.conv2dForward(x[0], wt[0], yG, s);
        Check.scaled("y", y, yG, Check.TF32_TOL);
        double unrounded = Check.worstScaled(yExact, yG);
        org.junit.jupiter.api.Assertions.assertTrue(unrounded > Check.TF32_TOL, String.format(
                "y is within %.1e of the unrounded reference: the inputs were not rounded to TF32", unrounded));

        Tensor gx = Tensor.zeros(DType.F64, n, c, h, w), gwR = gw[1].copy();
        cpu.conv2dBackward(xr, wr, gyr, gx, null, s);
        cpu.conv2dBackward(xr, wr, gyr, null, gwR, s);
        Tensor gxG = Tensor.zeros(DType.F32, n, c, h, w), gwG = gw[0].copy();
        be.conv2dBackward(x[0], wt[0], gy[0], gxG, gwG, s);
        Check.scaled("gx", gx, gxG, Check.TF32_TOL);
        Check.scaled("gw (accumulated)", gwR, gwG, Check.TF32_TOL);
    }
}
