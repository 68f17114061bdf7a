package dev.pdecnn.nn;

import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.config.Choices;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.Velocity;

/**
 * Every option of the Global layer (docs/design.md §1). The defaults are the study's ResNet32-Global (Table 2, row 2).
 * The modes and sub-networks are the config's enums ({@link Choices}), the one list of each.
 */
public record GlobalSpec(SubNet init, Velocity velocity, SubNet velocityNet, Diffusivity diffusivity,
                         SubNet diffusivityNet, double diffusivityConstant, double pmLambda, PdeSpec pde) {

    public GlobalSpec {
        if (!Choices.INITS.contains(init)) {
            throw new IllegalArgumentException("Global layer init must be one of " + Choices.names(Choices.INITS) + ", got " + init);
        }
        if (!(pmLambda > 0)) {
            throw new IllegalArgumentException("Perona-Malik lambda must be > 0, got " + pmLambda);
        }
    }

    public static GlobalSpec defaults(int steps) {
        return new GlobalSpec(SubNet.IDENTITY, Velocity.LEARNED, SubNet.DWCONV, Diffusivity.LEARNED,
                SubNet.DWCONV, 1.0, 2.0, new PdeSpec(steps, 0.2, 1.0, 1.0));
    }

    public GlobalSpec withInit(SubNet s) {
        return new GlobalSpec(s, velocity, velocityNet, diffusivity, diffusivityNet, diffusivityConstant, pmLambda, pde);
    }

    public GlobalSpec withVelocity(Velocity m, SubNet s) {
        return new GlobalSpec(init, m, s, diffusivity, diffusivityNet, diffusivityConstant, pmLambda, pde);
    }

    public GlobalSpec withDiffusivity(Diffusivity m, SubNet s, double c) {
        return new GlobalSpec(init, velocity, velocityNet, m, s, c, pmLambda, pde);
    }

    public GlobalSpec withPde(PdeSpec p) {
        return new GlobalSpec(init, velocity, velocityNet, diffusivity, diffusivityNet, diffusivityConstant, pmLambda, p);
    }
}
