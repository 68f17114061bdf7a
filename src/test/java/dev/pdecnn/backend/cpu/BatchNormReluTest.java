package dev.pdecnn.backend.cpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fast CPU backend's fused relu(batch norm) and relu(a + b) against the composition the Backend interface
 * defines (and a device backend and the reference run): batchNormTrain then relu, reluBackward then
 * batchNormBackward, bit for bit (same scale and shift, same sums, the masked gradient written into gx and the
 * batch-norm backward run in place).
 */
class BatchNormReluTest {
    private static Tensor random(DType dt, SplittableRandom r, double shift, int... shape) {
        Tensor t = Tensor.zeros(dt, shape);
        for (int i = 0; i < t.size(); i++) {
            t.set(i, (float) (shift + r.nextGaussian()));
        }
        return t;
    }

    private static void close(Tensor a, Tensor b, double tol, String what) {
        double scale = 0;
        for (int i = 0; i < b.size(); i++) {
            scale = Math.max(scale, Math.abs(b.get(i)));
        }
        for (int i = 0; i < a.size(); i++) {
            if (tol == 0) {
                assertEquals(Double.doubleToLongBits(b.get(i)), Double.doubleToLongBits(a.get(i)), what + "[" + i + "]");
            } else {
                assertEquals(b.get(i), a.get(i), tol * Math.max(1, scale), what + "[" + i + "]");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"4, 3, 5, 7", "9, 16, 8, 8", "2, 5, 1, 1", "3, 7, 11, 13"})
    void fusedMatchesComposition(int n, int c, int h, int w) {
        Backend be = new CpuBackend();
        DType dt = be.dtype();
        double tol = 0;
        SplittableRandom r = new SplittableRandom(n * 100L + c);
        Tensor x = random(dt, r, 0.3, n, c, h, w), gy = random(dt, r, 0, n, c, h, w);
        Tensor gamma = random(dt, r, 1, c), beta = random(dt, r, 0, c);
        Tensor[] rm = {random(dt, r, 0, c), null}, rv = {random(dt, r, 2, c), null};
        rm[1] = rm[0].copy();
        rv[1] = rv[0].copy();
        Tensor[] sm = {Tensor.zeros(dt, c), Tensor.zeros(dt, c)}, si = {Tensor.zeros(dt, c), Tensor.zeros(dt, c)};
        // fused
        Tensor y0 = Tensor.zeros(dt, n, c, h, w), gx0 = Tensor.zeros(dt, n, c, h, w);
        Tensor gg0 = Tensor.zeros(dt, c), gb0 = Tensor.zeros(dt, c);
        be.batchNormReluTrain(x, gamma, beta, rm[0], rv[0], 0.1, 1e-3, y0, sm[0], si[0]);
        be.batchNormReluBackward(x, y0, gy, gamma, sm[0], si[0], gx0, gg0, gb0);
        // composed
        Tensor t = Tensor.zeros(dt, n, c, h, w), y1 = Tensor.zeros(dt, n, c, h, w), gt = Tensor.zeros(dt, n, c, h, w);
        Tensor gx1 = Tensor.zeros(dt, n, c, h, w), gg1 = Tensor.zeros(dt, c), gb1 = Tensor.zeros(dt, c);
        be.batchNormTrain(x, gamma, beta, rm[1], rv[1], 0.1, 1e-3, t, sm[1], si[1]);
        be.relu(t, y1);
        be.reluBackward(y1, gy, gt);
        be.batchNormBackward(x, gt, gamma, sm[1], si[1], gx1, gg1, gb1);
        close(y0, y1, tol, "y");
        close(sm[0], sm[1], 0, "saveMean");
        close(si[0], si[1], 0, "saveInvStd");
        close(rm[0], rm[1], 0, "runMean");
        close(rv[0], rv[1], 0, "runVar");
        close(gx0, gx1, tol, "gx");
        close(gg0, gg1, tol, "gGamma");
        close(gb0, gb1, tol, "gBeta");
        // the mask the backward pass recomputes from x is exactly that of the y the forward pass wrote
        Tensor gOnes = Tensor.zeros(dt, n, c, h, w), masked = Tensor.zeros(dt, n, c, h, w);
        gOnes.fill(1);
        be.reluBackward(y0, gOnes, masked);
        Tensor gxm = Tensor.zeros(dt, n, c, h, w), gxr = Tensor.zeros(dt, n, c, h, w);
        be.batchNormReluBackward(x, y0, gOnes, gamma, sm[0], si[0], gxm, Tensor.zeros(dt, c), Tensor.zeros(dt, c));
        be.batchNormBackward(x, masked, gamma, sm[0], si[0], gxr, Tensor.zeros(dt, c), Tensor.zeros(dt, c));
        close(gxm, gxr, 0, "gx with the forward's mask");
        // evaluation
        Tensor e0 = Tensor.zeros(dt, n, c, h, w), e1 = Tensor.zeros(dt, n, c, h, w);
        be.batchNormReluEval(x, gamma, beta, rm[0], rv[0], 1e-3, e0);
        be.batchNormEval(x, gamma, beta, rm[0], rv[0], 1e-3, t);
        be.relu(t, e1);
        close(e0, e1, 0, "eval");
        // relu(a + b), the residual block's output, in one pass against add then relu
        Tensor s0 = Tensor.zeros(dt, n, c, h, w), s1 = Tensor.zeros(dt, n, c, h, w), aCopy = y0.copy();
        be.addRelu(y0, gy, s0);
        close(y0, aCopy, 0, "addRelu leaves a");
        be.add(aCopy, gy, t);
        be.relu(t, s1);
        close(s0, s1, 0, "addRelu");
    }
}
