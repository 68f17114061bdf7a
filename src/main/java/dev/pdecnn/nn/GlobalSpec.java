package dev.pdecnn.nn;

import dev.pdecnn.backend.PdeSpec;

/**
 * Every option of the Global layer (docs/design.md §1). The defaults are the study's ResNet32-Global (Table 2, row 2).
 */
public record GlobalSpec(SubNet init, Velocity velocity, SubNet velocityNet, Diffusivity diffusivity,
                         SubNet diffusivityNet, double diffusivityConstant, double pmLambda, PdeSpec pde) {

    public enum SubNet { IDENTITY, DWCONV, CONV, PWCONV, BASIC }

    /** The sub-networks that {@code h = init(f)} may be. */
    public static final java.util.Set<SubNet> INITS = java.util.Collections.unmodifiableSet(
            java.util.EnumSet.of(SubNet.IDENTITY, SubNet.BASIC));

    /**
     * LEARNED: u = relu(BN_u(V_u(h))); ZERO: u = v = 0 exactly, no velocity sub-networks; ZERO_INPUT: the study's
     * TensorFlow diffusion equation (Table 2 row 7), u = relu(BN_u(V_u(0))): the sub-networks exist and count, but
     * are fed zeros instead of h, so u and v are learned per-channel constants (relu of BN's shift) and no gradient
     * flows from them into h.
     */
    public enum Velocity { LEARNED, ZERO, ZERO_INPUT }

    public enum Diffusivity { LEARNED, CONSTANT, PERONA_MALIK, ZERO }

    public GlobalSpec {
        if (!INITS.contains(init)) {
            throw new IllegalArgumentException("Global layer init must be identity or basic, got " + init);
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
