package dev.pdecnn.models;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.nn.Param;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each weight_init scheme gives every conv and dense weight the range and spread its definition states. The
 * sample standard deviation of n draws has a relative standard error of at most 1/sqrt(2n) (normal draws;
 * uniform ones have less), so each tensor's std must lie within 5/sqrt(2n) of the scheme's value: 29 % for a
 * 16x1x3x3 depthwise kernel, 1.8 % for a 64x64x3x3 kernel. A wrong fan (e.g. fan_out for fan_in: a factor
 * of 2 or 3 here) or a wrong formula fails by far more.
 */
class WeightInitTest {
    private static Network build(String model, String scheme, long seed) {
        RunConfig cfg = new RunConfig();
        cfg.set("model", model, "test");
        cfg.set("weight_init", scheme, "test");
        cfg.set("seed", seed, "test");
        return Models.build(cfg, new ReferenceBackend());
    }

    private static double std(Tensor t) {
        double s = 0, s2 = 0;
        for (int i = 0; i < t.size(); i++) {
            s += t.get(i);
            s2 += t.get(i) * t.get(i);
        }
        double m = s / t.size();
        return Math.sqrt(s2 / t.size() - m * m);
    }

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (int i = 0; i < t.size(); i++) {
            m = Math.max(m, Math.abs(t.get(i)));
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"he_normal", "torch", "glorot_uniform"})
    void everyWeightHasTheSchemesSpread(String scheme) {
        for (long seed : new long[]{1, 2, 3}) {
            Network net = build("resnet32_global", scheme, seed);
            int checked = 0;
            for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
                Tensor t = e.getValue().value;
                if (!e.getValue().trainable || t.rank() < 2) {
                    continue;
                }
                int fanIn = t.size() / t.dim(0), fanOut = t.size() / t.dim(1);
                double expected = switch (scheme) {
                    case "he_normal" -> t.rank() == 4 ? Math.sqrt(2.0 / fanIn) : Math.sqrt(2.0 / (t.dim(0) + t.dim(1)));
                    case "torch" -> 1 / Math.sqrt(3.0 * fanIn);
                    default -> Math.sqrt(2.0 / (fanIn + fanOut));
                };
                assertEquals(expected, std(t), 5 / Math.sqrt(2.0 * t.size()) * expected, e.getKey() + " std");
                checked++;
                if (!scheme.equals("he_normal") || t.rank() == 2) {
                    double bound = scheme.equals("torch") ? 1 / Math.sqrt(fanIn) : expected * Math.sqrt(3);
                    assertTrue(maxAbs(t) <= bound, e.getKey() + " within the uniform bound");
                    assertTrue(maxAbs(t) > 0.8 * bound, e.getKey() + " fills the uniform range");
                }
            }
            assertTrue(checked > 20, "conv and dense weights were found: " + checked);
            Tensor fcBias = net.namedParams().get("fc.bias").value;
            if (scheme.equals("torch")) {
                assertTrue(maxAbs(fcBias) > 0 && maxAbs(fcBias) <= 1 / Math.sqrt(64), "PyTorch draws the dense bias");
            } else {
                assertEquals(0, maxAbs(fcBias), "zero dense bias");
            }
            for (Map.Entry<String, Param> e : net.namedParams().entrySet()) {
                if (e.getKey().endsWith("bn1.weight") || e.getKey().endsWith("running_var")) {
                    assertEquals(1.0, e.getValue().value.get(0), e.getKey());
                }
            }
        }
    }

    @Test
    void schemesAndSeedsGiveDifferentWeightsAndTheSameSeedTheSame() {
        Tensor a = build("resnet32", "torch", 5).namedParams().get("layer2.1.conv1.weight").value;
        Tensor b = build("resnet32", "torch", 5).namedParams().get("layer2.1.conv1.weight").value;
        Tensor c = build("resnet32", "torch", 6).namedParams().get("layer2.1.conv1.weight").value;
        Tensor d = build("resnet32", "glorot_uniform", 5).namedParams().get("layer2.1.conv1.weight").value;
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i), b.get(i));
        }
        assertNotEquals(a.get(0), c.get(0));
        assertNotEquals(a.get(0), d.get(0));
    }

    @Test
    void unknownSchemeIsAnErrorNamingTheChoices() {
        RunConfig cfg = new RunConfig();
        Exception e = assertThrows(RuntimeException.class, () -> cfg.set("weight_init", "xavier", "test"));
        assertTrue(e.getMessage().contains("weight_init") && e.getMessage().contains("he_normal"), e.getMessage());
    }
}
