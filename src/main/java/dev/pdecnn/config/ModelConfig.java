package dev.pdecnn.config;

import dev.pdecnn.nn.GlobalSpec;

import java.util.List;

/**
 * The model part of a {@link RunConfig}, typed: everything {@code Models.build} reads and nothing else. Made by
 * {@link RunConfig#modelPart()} after validation, so it is complete (model defaults filled in) and consistent,
 * and the Global layer's choices are already its enums; the builder neither validates nor parses.
 */
public final class ModelConfig {
    public final String model;
    public final int channels;
    public final int steps;
    public final double dt, dx, dy;
    public final GlobalSpec.Velocity velocity;
    public final GlobalSpec.SubNet velocityNet;
    public final GlobalSpec.Diffusivity diffusivity;
    public final GlobalSpec.SubNet diffusivityNet;
    public final double diffusivityConstant;
    public final double pmLambda;
    public final GlobalSpec.SubNet init;
    public final int blocks;
    public final List<Integer> widths;
    public final List<Integer> globalAfter;
    public final double bnMomentum, bnEps;
    /** The initial weights: a scheme of {@link RunConfig#WEIGHT_INITS} and the seed. */
    public final String weightInit;
    public final long seed;

    ModelConfig(RunConfig c) {
        model = c.model;
        channels = c.channels;
        steps = c.steps;
        dt = c.dt;
        dx = c.dx;
        dy = c.dy;
        velocity = Choices.parse(GlobalSpec.Velocity.class, c.velocity);
        velocityNet = Choices.parse(GlobalSpec.SubNet.class, c.velocityNet);
        diffusivity = Choices.parse(GlobalSpec.Diffusivity.class, c.diffusivity);
        diffusivityNet = Choices.parse(GlobalSpec.SubNet.class, c.diffusivityNet);
        diffusivityConstant = c.diffusivityConstant;
        pmLambda = c.pmLambda;
        init = Choices.parse(GlobalSpec.SubNet.class, c.init);
        blocks = c.blocks;
        widths = List.copyOf(c.widths);
        globalAfter = List.copyOf(c.globalAfter);
        bnMomentum = c.bnMomentum;
        bnEps = c.bnEps;
        weightInit = c.weightInit;
        seed = c.seed;
    }

    /** Whether the model is one of the MNIST example's ({@link RunConfig#MNIST_MODELS}). */
    public boolean isMnistModel() {
        return RunConfig.MNIST_MODELS.contains(model);
    }
}
