package dev.pdecnn.models;

import dev.pdecnn.backend.reference.ReferenceBackend;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.nn.GradCheck;
import dev.pdecnn.nn.Param;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

/** Whole MNIST networks (every model of Table 1) against finite differences in double precision. */
class NetworkGradientTest {
    @ParameterizedTest
    @CsvSource({"cnn, constant, 1", "residual, constant, 1", "pde, constant, 1", "pde, perona_malik, 1",
            "cnn, constant, 3", "residual, constant, 3", "pde, constant, 3", "pde, perona_malik, 3"})
    void mnistNetwork(String model, String diffusivity, int channels) {
        RunConfig cfg = new RunConfig();
        cfg.set("model", model, "test");
        cfg.set("diffusivity", diffusivity, "test");
        cfg.set("channels", channels, "test");
        cfg.set("seed", 11L + channels, "test");
        Network net = Models.build(cfg, new ReferenceBackend());
        SplittableRandom r = new SplittableRandom(channels * 31L + model.length());
        for (Param p : net.namedParams().values()) {
            if (p.trainable && p.value.rank() == 1) {
                for (int i = 0; i < p.size(); i++) {
                    p.value.set(i, p.name.equals("weight") ? 1 + 0.2 * r.nextGaussian() : 0.2 * r.nextGaussian());
                }
            }
        }
        GradCheck.check(net, GradCheck.random(r, 3, 1, 28, 28), channels, 12);
    }
}
