package dev.pdecnn.config;

import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.Model;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.Velocity;
import dev.pdecnn.config.Choices.WeightInit;

import java.util.List;

/**
 * The model part of a {@link RunConfig}, typed: everything {@code Models.build} reads and nothing else. Made by
 * {@link RunConfig#validate()} (one of the parts of {@link TypedConfig}), so it is complete (model defaults filled
 * in) and consistent, and every choice is already its enum ({@link Choices}); the builder neither validates nor
 * parses.
 */
public final class ModelConfig {
    public final Model model;
    public final int channels;
    public final int steps;
    public final double dt, dx, dy;
    public final Velocity velocity;
    public final SubNet velocityNet;
    public final Diffusivity diffusivity;
    public final SubNet diffusivityNet;
    public final double diffusivityConstant;
    public final double pmLambda;
    public final SubNet init;
    public final int blocks;
    public final List<Integer> widths;
    public final List<Integer> globalAfter;
    public final double bnMomentum, bnEps;
    /** The initial weights: a scheme and the seed. */
    public final WeightInit weightInit;
    public final long seed;

    ModelConfig(RunConfig c) {
        model = Choices.parse(Model.class, c.model);
        channels = c.channels;
        steps = c.steps;
        dt = c.dt;
        dx = c.dx;
        dy = c.dy;
        velocity = Choices.parse(Velocity.class, c.velocity);
        velocityNet = Choices.parse(SubNet.class, c.velocityNet);
        diffusivity = Choices.parse(Diffusivity.class, c.diffusivity);
        diffusivityNet = Choices.parse(SubNet.class, c.diffusivityNet);
        diffusivityConstant = c.diffusivityConstant;
        pmLambda = c.pmLambda;
        init = Choices.parse(SubNet.class, c.init);
        blocks = c.blocks;
        widths = List.copyOf(c.widths);
        globalAfter = List.copyOf(c.globalAfter);
        bnMomentum = c.bnMomentum;
        bnEps = c.bnEps;
        weightInit = Choices.parse(WeightInit.class, c.weightInit);
        seed = c.seed;
    }

    /** Whether the model is one of the MNIST example's ({@link Model#mnist()}). */
    public boolean isMnistModel() {
        return model.mnist();
    }
}
