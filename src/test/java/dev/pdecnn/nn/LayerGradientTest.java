package dev.pdecnn.nn;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every layer's backward pass against central finite differences in double precision (see {@link GradCheck}). */
class LayerGradientTest {
    private final Backend be = new ReferenceBackend();

    private static void randomize(Module m, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (Param p : m.namedParams().values()) {
            if (p.trainable) {
                for (int i = 0; i < p.value.size(); i++) {
                    // BN scales near 1 keep the check in the regime training sees
                    p.value.set(i, p.value.rank() == 1 && p.name.equals("weight") ? 1 + 0.3 * r.nextGaussian() : r.nextGaussian() * 0.5);
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
            // cin, cout, k, stride, pad, groups, h, w
            "3, 4, 3, 1, 1, 1, 5, 7",
            "3, 5, 3, 2, 1, 1, 7, 6",
            "4, 6, 1, 2, 0, 1, 5, 5",
            "4, 4, 3, 1, 1, 4, 6, 5",
            "6, 4, 3, 1, 1, 2, 4, 5",
            "2, 3, 5, 1, 2, 1, 6, 4",
    })
    void conv2d(int cin, int cout, int k, int stride, int pad, int groups, int h, int w) {
        for (long seed = 1; seed <= 2; seed++) {
            Conv2d m = new Conv2d(be, cin, cout, k, stride, pad, groups);
            randomize(m, seed);
            GradCheck.check(m, GradCheck.random(new SplittableRandom(seed + 10), 2, cin, h, w), seed, 60);
        }
    }

    @Test
    void convMatchesDirectSum() {
        // The forward pass against the definition, so the gradient check is not checking a wrong function.
        SplittableRandom r = new SplittableRandom(3);
        Conv2d m = new Conv2d(be, 4, 6, 3, 2, 1, 2);
        randomize(m, 3);
        Tensor x = GradCheck.random(r, 2, 4, 7, 6);
        Tensor y = m.forward(x);
        Tensor w = m.namedParams().get("weight").value;
        int ho = y.dim(2), wo = y.dim(3);
        for (int n = 0; n < 2; n++) {
            for (int co = 0; co < 6; co++) {
                int g = co / 3;
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        double s = 0;
                        for (int ci = 0; ci < 2; ci++) {
                            for (int a = 0; a < 3; a++) {
                                for (int b = 0; b < 3; b++) {
                                    int ii = i * 2 - 1 + a, jj = j * 2 - 1 + b;
                                    if (ii >= 0 && ii < 7 && jj >= 0 && jj < 6) {
                                        s += w.get(((co * 2 + ci) * 3 + a) * 3 + b) * x.get(((n * 4 + g * 2 + ci) * 7 + ii) * 6 + jj);
                                    }
                                }
                            }
                        }
                        assertEquals(s, y.get(((n * 6 + co) * ho + i) * wo + j), 1e-12);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void batchNorm(long seed) {
        BatchNorm2d m = new BatchNorm2d(be, 3);
        randomize(m, seed);
        GradCheck.check(m, GradCheck.random(new SplittableRandom(seed), 3, 3, 4, 5), seed, 60);
    }

    @Test
    void batchNormEvalUsesRunningStatistics() {
        BatchNorm2d m = new BatchNorm2d(be, 2, 0.5, 1e-3);
        Tensor x = GradCheck.random(new SplittableRandom(4), 4, 2, 3, 3);
        m.forward(x);
        Tensor rm = m.namedParams().get("running_mean").value, rv = m.namedParams().get("running_var").value;
        for (int c = 0; c < 2; c++) {
            double s = 0, sq = 0;
            int cnt = 0;
            for (int n = 0; n < 4; n++) {
                for (int i = 0; i < 9; i++) {
                    double v = x.get((n * 2 + c) * 9 + i);
                    s += v;
                    sq += v * v;
                    cnt++;
                }
            }
            // normalisation uses the biased variance; the running estimate the unbiased one (PyTorch's convention)
            double mean = s / cnt, var = sq / cnt - mean * mean, unbiased = var * cnt / (cnt - 1);
            assertEquals(0.5 * mean, rm.get(c), 1e-12);
            assertEquals(0.5 + 0.5 * unbiased, rv.get(c), 1e-12);
            // the two conventions are far apart here (0.5 var/35), so the biased update cannot pass
            assertTrue(Math.abs(0.5 * unbiased - 0.5 * var) > 1e-3);
        }
        m.train(false);
        Tensor y = m.forward(x);
        double expect = (x.get(0) - rm.get(0)) / Math.sqrt(rv.get(0) + 1e-3);
        assertEquals(expect, y.get(0), 1e-12);
    }

    @Test
    void batchNormWithRelu() {
        for (long seed = 1; seed <= 2; seed++) {
            BatchNorm2d m = BatchNorm2d.withRelu(be, 3, BatchNorm2d.Spec.DEFAULT);
            randomize(m, seed);
            GradCheck.check(m, GradCheck.random(new SplittableRandom(seed + 20), 4, 3, 3, 5), seed, 80);
            assertEquals(List.of("weight", "bias", "running_mean", "running_var"), List.copyOf(m.namedParams().keySet()));
        }
    }

    @Test
    void reluPoolDense() {
        SplittableRandom r = new SplittableRandom(5);
        GradCheck.check(new ReLU(be), GradCheck.random(r, 2, 3, 4, 5), 5, 100);
        GradCheck.check(new AvgPool(be, 2), GradCheck.random(r, 2, 3, 4, 6), 6, 100);
        Dense d = new Dense(be, 3 * 2 * 2, 5);
        randomize(d, 7);
        GradCheck.check(d, GradCheck.random(r, 3, 3, 2, 2), 7, 100);
    }

    @ParameterizedTest
    @CsvSource({"3, 3, 1", "3, 5, 1", "4, 6, 2"})
    void basicBlock(int cin, int cout, int stride) {
        BasicBlock m = new BasicBlock(be, cin, cout, stride);
        randomize(m, cin * 10L + cout);
        GradCheck.check(m, GradCheck.random(new SplittableRandom(cout), 2, cin, 6, 5), cin, 25);
        boolean hasShortcut = m.namedParams().containsKey("shortcut.0.weight");
        assertEquals(stride != 1 || cin != cout, hasShortcut);
    }

    @Test
    void softmaxCrossEntropy() {
        SplittableRandom r = new SplittableRandom(8);
        Tensor logits = GradCheck.random(r, 4, 7);
        int[] labels = {0, 6, 3, 3};
        Tensor g = logits.zerosLike();
        int[] pred = new int[4];
        double loss = be.softmaxCrossEntropy(logits, labels, g, pred);
        double manual = 0;
        for (int n = 0; n < 4; n++) {
            double z = 0;
            int arg = 0;
            for (int j = 0; j < 7; j++) {
                z += Math.exp(logits.get(n * 7 + j));
                if (logits.get(n * 7 + j) > logits.get(n * 7 + arg)) {
                    arg = j;
                }
            }
            manual += Math.log(z) - logits.get(n * 7 + labels[n]);
            assertEquals(arg, pred[n]);
        }
        assertEquals(manual / 4, loss, 1e-12);
        List<String> errors = new ArrayList<>();
        GradCheck.compare("logits", logits, g, () -> be.softmaxCrossEntropy(logits, labels, null, null), r, 28, errors);
        assertTrue(errors.isEmpty(), errors.toString());
    }

    @Test
    void sgdMomentumMatchesKerasForm() {
        Tensor w = Tensor.of(new double[]{1, -2}, 2), g = Tensor.of(new double[]{0.5, 0.25}, 2), v = w.zerosLike();
        be.sgdStep(w, g, v, 0.1, 0.9, 0.01);
        // v = -0.1 * (g + 0.01 w)
        assertEquals(-0.1 * (0.5 + 0.01), v.get(0), 1e-15);
        assertEquals(1 - 0.1 * 0.51, w.get(0), 1e-15);
        be.sgdStep(w, g, v, 0.1, 0.9, 0.01);
        double v2 = 0.9 * -0.051 - 0.1 * (0.5 + 0.01 * (1 - 0.051));
        assertEquals(v2, v.get(0), 1e-15);
    }
}
