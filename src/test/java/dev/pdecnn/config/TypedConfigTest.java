package dev.pdecnn.config;

import dev.pdecnn.UserException;
import dev.pdecnn.cli.CliRunner;
import dev.pdecnn.config.Choices.DataSet;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.MatmulPrecision;
import dev.pdecnn.config.Choices.Model;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.WeightInit;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A validated config parsed once into typed parts, and each key's choices defined once by its enum. */
class TypedConfigTest {
    @Test
    void validateMakesTheTypedPartsWithTheModelDefaults() {
        RunConfig c = new RunConfig();
        c.set("model", "resnet32_global", "test");
        c.set("weight_init", "HE-NORMAL", "test");
        c.set("epochs", 7, "test");
        c.set("precision", "tf32", "test");
        TypedConfig t = c.validate();
        assertEquals(Model.RESNET32_GLOBAL, t.model().model);
        assertEquals(WeightInit.HE_NORMAL, t.model().weightInit);
        assertEquals(Diffusivity.LEARNED, t.model().diffusivity);
        assertEquals(SubNet.DWCONV, t.model().velocityNet);
        assertEquals(List.of(1, 2, 3), t.model().globalAfter);
        assertEquals(1, t.model().blocks);
        assertEquals(DataSet.CIFAR10, t.data().dataset());
        assertEquals(new OptimConfig(7, 32, 1e-2, 0.9, 5e-4, 1), t.optim());
        assertEquals(new RunSetup("cpu", MatmulPrecision.TF32, "runs", null), t.run());
        assertEquals(c.toMap(), t.keys());
        assertThrows(UnsupportedOperationException.class, () -> t.keys().put("epochs", 8));
        assertNull(new RunConfig().validate().run().precision(), "unset: the device's default");
    }

    @Test
    void typedReusesTheValidationWhileNothingChanged() {
        RunConfig c = new RunConfig();
        TypedConfig first = c.validate();
        assertSame(first, c.typed());
        assertSame(first.model(), c.modelPart(), "modelPart does not validate again");
        c.set("channels", 4, "test");
        TypedConfig second = c.typed();
        assertNotSame(first, second);
        assertEquals(4, second.model().channels);
        c.widths = List.of(8); // a field written directly counts as a change too
        assertEquals(List.of(8), c.typed().model().widths);
        c.model = "cnn";
        c.dataset = "cifar10";
        assertThrows(UserException.class, c::typed, "a changed config is validated again");
    }

    /** RunConfig's allowed values of every choice key are its enum's names; --help lists the same. */
    @Test
    void choicesComeFromTheEnums() {
        Map<String, List<String>> expected = Map.of(
                "model", Choices.names(Model.values()),
                "dataset", Choices.names(DataSet.values()),
                "weight_init", Choices.names(WeightInit.values()),
                "velocity", Choices.names(Choices.Velocity.values()),
                "velocity_net", Choices.names(SubNet.values()),
                "diffusivity_net", Choices.names(SubNet.values()),
                "diffusivity", Choices.names(Diffusivity.values()),
                "init", Choices.names(Choices.INITS),
                "precision", Choices.names(MatmulPrecision.values()));
        String help = CliRunner.run("--help").out().replaceAll("\\s+", " ");
        expected.forEach((key, names) -> {
            assertEquals(names, RunConfig.choices(key), key);
            String opt = "--" + key.replace('_', '-') + "=";
            Matcher m = Pattern.compile(Pattern.quote(opt) + "\\S+ [^:]*: " + Pattern.quote(String.join(", ", names)))
                    .matcher(help);
            assertTrue(m.find(), opt + " lists " + names + " in --help: " + help);
        });
        assertEquals(List.of("cnn", "residual", "pde"), RunConfig.MNIST_MODELS);
        assertNull(RunConfig.choices("epochs"));
        UserException e = assertThrows(UserException.class, () -> new RunConfig().set("weight_init", "xavier", "t"));
        assertEquals("t: key 'weight_init' has value 'xavier'; allowed: " + Choices.names(WeightInit.values()),
                e.getMessage());
    }
}
