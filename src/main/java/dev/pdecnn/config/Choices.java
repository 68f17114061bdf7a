package dev.pdecnn.config;

import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Every config key whose value is one of a few names, as enums: the one list of each key's choices. A constant is
 * written in configs, on the command line and in checkpoints in lower case ({@code PERONA_MALIK} is
 * {@code perona_malik}); {@link RunConfig} takes a key's allowed values from its enum ({@link #names}), --help
 * lists them through the CLI's completion candidates, and the typed parts of a validated config
 * ({@link TypedConfig}) hold the constants ({@link #parse}). Code below config that takes a choice (the Global
 * layer's spec, the data sets, a device's precision) takes these enums.
 */
public final class Choices {
    private Choices() {
    }

    /** The networks of docs/design.md §2: the MNIST example's three (28x28x1 input), then CIFAR ResNets (32x32x3). */
    public enum Model {
        CNN(true), RESIDUAL(true), PDE(true), RESNET32(false), RESNET32_GLOBAL(false), RESNET(false);

        private final boolean mnist;

        Model(boolean mnist) {
            this.mnist = mnist;
        }

        /** Whether this is one of the MNIST example's models (28x28x1 input, one block). */
        public boolean mnist() {
            return mnist;
        }

        /** Input channels: 1 for the MNIST models, 3 for the CIFAR ResNets. */
        public int inputChannels() {
            return mnist ? 1 : 3;
        }
    }

    /** The data sets: MNIST, CIFAR-10 (binary batches or an image folder), any image folder. */
    public enum DataSet { MNIST, CIFAR10, FOLDER }

    /** The initial conv and dense weights ({@code models.Models.initialize} says what each is). */
    public enum WeightInit { HE_NORMAL, TORCH, GLOROT_UNIFORM }

    /** The Global layer's sub-networks (docs/design.md §1). */
    public enum SubNet { IDENTITY, DWCONV, CONV, PWCONV, BASIC }

    /**
     * LEARNED: u = relu(BN_u(V_u(h))); ZERO: u = v = 0 exactly, no velocity sub-networks; ZERO_INPUT: the study's
     * TensorFlow diffusion equation (Table 2 row 7), u = relu(BN_u(V_u(0))): the sub-networks exist and count, but
     * are fed zeros instead of h, so u and v are learned per-channel constants (relu of BN's shift) and no gradient
     * flows from them into h.
     */
    public enum Velocity { LEARNED, ZERO, ZERO_INPUT }

    /** How the Global layer's diffusivity is made. */
    public enum Diffusivity { LEARNED, CONSTANT, PERONA_MALIK, ZERO }

    /**
     * The arithmetic of float32 matrix products on a GPU (convolutions, the dense layer) that a run asks for; unset,
     * the device's default ({@code backend.cuda.Precision} resolves it). The CPU computes in fp32 whatever it says.
     */
    public enum MatmulPrecision { TF32, FP32 }

    /** The sub-networks that the Global layer's {@code h = init(f)} may be. */
    public static final Set<SubNet> INITS = Collections.unmodifiableSet(EnumSet.of(SubNet.IDENTITY, SubNet.BASIC));

    /** The diffusivities of the MNIST example's pde block (a fixed D or Perona-Malik's; nothing learned). */
    public static final Set<Diffusivity> MNIST_PDE_DIFFUSIVITIES = Collections.unmodifiableSet(
            EnumSet.of(Diffusivity.CONSTANT, Diffusivity.PERONA_MALIK));

    /** The config spelling of {@code e}. */
    public static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** The config spellings of {@code values}, in their order. */
    @SafeVarargs
    public static <E extends Enum<E>> List<String> names(E... values) {
        return names(Arrays.asList(values));
    }

    /** The config spellings of {@code values}, in their order. */
    public static List<String> names(Collection<? extends Enum<?>> values) {
        return values.stream().map(Choices::name).toList();
    }

    /** The constant of {@code type} that {@code value} spells exactly (as {@link #name} writes it), or null. */
    public static <E extends Enum<E>> E find(Class<E> type, String value) {
        for (E e : type.getEnumConstants()) {
            if (name(e).equals(value)) {
                return e;
            }
        }
        return null;
    }

    /** The constant of {@code type} that a validated config value names (null stays null). */
    public static <E extends Enum<E>> E parse(Class<E> type, String value) {
        return value == null ? null : Enum.valueOf(type, value.toUpperCase(Locale.ROOT));
    }
}
