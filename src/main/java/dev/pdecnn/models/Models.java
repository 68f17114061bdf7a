package dev.pdecnn.models;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.PdeSpec;
import dev.pdecnn.backend.ShapeOnlyBackend;
import dev.pdecnn.config.Choices;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.WeightInit;
import dev.pdecnn.config.ModelConfig;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.nn.AvgPool;
import dev.pdecnn.nn.BasicBlock;
import dev.pdecnn.nn.BatchNorm2d;
import dev.pdecnn.nn.Conv2d;
import dev.pdecnn.nn.Dense;
import dev.pdecnn.nn.GlobalLayer;
import dev.pdecnn.nn.GlobalSpec;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Param;
import dev.pdecnn.nn.Sequential;
import dev.pdecnn.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * Builds the networks of docs/design.md §2 from a config's typed model part ({@link ModelConfig}), on any backend.
 * The {@link RunConfig} forms take that part first ({@link RunConfig#modelPart()}, which validates unless done).
 */
public final class Models {
    private Models() {
    }

    /** The study's classifier: 10 logits (MNIST, CIFAR-10). */
    public static final int DEFAULT_CLASSES = 10;
    /** Logits at most; far beyond any image-folder data set this trainer is meant for (ImageNet has 1000). */
    public static final int MAX_CLASSES = 100_000;

    public static Network build(RunConfig cfg, Backend be) {
        return build(cfg.modelPart(), be, DEFAULT_CLASSES);
    }

    /**
     * The classifier's logits for training data of {@code classNames} (label order): the study's 10, or one per
     * class when there are more (an image folder of 12 classes). Fewer classes keep 10 logits, as every
     * checkpoint before the head followed the data did, so those checkpoints still load. The class names are
     * recorded in config.json and every checkpoint, so eval, predict and export build the same head from them.
     */
    public static int classes(java.util.List<String> classNames) {
        return classNames == null ? DEFAULT_CLASSES : Math.max(DEFAULT_CLASSES, classNames.size());
    }

    public static Network build(RunConfig cfg, Backend be, int classes) {
        return build(cfg.modelPart(), be, classes);
    }

    /** The network of {@code cfg} with a classifier of {@code classes} logits (see {@link #classes}). */
    public static Network build(ModelConfig cfg, Backend be, int classes) {
        Network net = structure(cfg, be, classes);
        initialize(net, cfg.seed, cfg.weightInit);
        return net;
    }

    /**
     * The same network with shapes only ({@link ShapeOnlyBackend}): every parameter's name and shape, MACs and
     * output shapes, no weights in memory and no initialisation. What parameter and MAC counts are taken from
     * (ops, report), so a count can never differ from the network that trains.
     */
    public static Network shapes(RunConfig cfg) {
        return structure(cfg.modelPart(), new ShapeOnlyBackend(), DEFAULT_CLASSES);
    }

    private static Network structure(ModelConfig cfg, Backend be, int classes) {
        if (classes < 1 || classes > MAX_CLASSES) {
            throw new dev.pdecnn.UserException("a classifier of " + classes + " classes; the trainer takes 1.."
                    + MAX_CLASSES);
        }
        return cfg.isMnistModel() ? mnist(cfg, be, classes) : resnet(cfg, be, classes);
    }

    /** {@code f = conv3x3(relu(BN(x)))}, the block, 4x4 average pool, dense to the logits (10 for MNIST). */
    private static Network mnist(ModelConfig cfg, Backend be, int classes) {
        int c = cfg.channels;
        Module block = switch (cfg.model) {
            case CNN -> new MnistBlocks.Cnn(be, c, bn(cfg));
            case RESIDUAL -> new MnistBlocks.Residual(be, c, bn(cfg));
            default -> new MnistBlocks.Pde(be, c, pde(cfg), cfg.diffusivity == Diffusivity.PERONA_MALIK,
                    cfg.diffusivityConstant, cfg.pmLambda, bn(cfg));
        };
        Sequential body = new Sequential(be)
                .add("bn0", BatchNorm2d.withRelu(be, 1, bn(cfg)))
                .add("conv0", Conv2d.conv3x3(be, 1, c, 1))
                .add("block", block)
                .add(new AvgPool(be, 4))
                .add("fc", new Dense(be, c * 7 * 7, classes));
        return new Network(be, name(cfg), new int[]{1, 28, 28}, classes, body);
    }

    /**
     * ResNet with stages of {@code blocks} BasicBlocks at the configured widths (strides 1, 2, 2, ...), a Global
     * layer after each stage listed in {@code global_after}, 4x4 average pool and a dense classifier.
     */
    private static Network resnet(ModelConfig cfg, Backend be, int classes) {
        Sequential body = new Sequential(be)
                .add("conv1", Conv2d.conv3x3(be, 3, cfg.widths.get(0), 1))
                .add("bn1", BatchNorm2d.withRelu(be, cfg.widths.get(0), bn(cfg)));
        int cin = cfg.widths.get(0), hw = 32;
        for (int s = 0; s < cfg.widths.size(); s++) {
            int w = cfg.widths.get(s), stride = s == 0 ? 1 : 2;
            Sequential stage = new Sequential(be);
            for (int b = 0; b < cfg.blocks; b++) {
                stage.add(Integer.toString(b), new BasicBlock(be, b == 0 ? cin : w, w, b == 0 ? stride : 1, bn(cfg)));
            }
            body.add("layer" + (s + 1), stage);
            hw /= stride;
            if (cfg.globalAfter.contains(s + 1)) {
                body.add("global" + (s + 1), new GlobalLayer(be, w, globalSpec(cfg), bn(cfg)));
            }
            cin = w;
        }
        body.add(new AvgPool(be, Math.max(1, hw)))
                .add("fc", new Dense(be, cin, classes));
        return new Network(be, name(cfg), new int[]{3, 32, 32}, classes, body);
    }

    public static GlobalSpec globalSpec(ModelConfig cfg) {
        return new GlobalSpec(cfg.init, cfg.velocity, cfg.velocityNet, cfg.diffusivity, cfg.diffusivityNet,
                cfg.diffusivityConstant, cfg.pmLambda, pde(cfg));
    }

    private static PdeSpec pde(ModelConfig cfg) {
        return new PdeSpec(cfg.steps, cfg.dt, cfg.dx, cfg.dy);
    }

    private static BatchNorm2d.Spec bn(ModelConfig cfg) {
        return new BatchNorm2d.Spec(cfg.bnMomentum, cfg.bnEps);
    }

    public static String name(RunConfig cfg) {
        return name(cfg.modelPart());
    }

    public static String name(ModelConfig cfg) {
        return switch (cfg.model) {
            case CNN, RESIDUAL -> "mnist_" + Choices.name(cfg.model) + "_c" + cfg.channels;
            case PDE -> "mnist_pde_" + (cfg.diffusivity == Diffusivity.PERONA_MALIK ? "pm" : "const") + "_c" + cfg.channels;
            default -> Choices.name(cfg.model);
        };
    }

    /**
     * Initial weights, deterministic in the seed and in the parameter order; batch norm keeps its scale 1 and
     * shift 0. Schemes ({@code weight_init}):
     * <ul>
     * <li>{@code he_normal}: conv N(0, 2 / fan_in), dense Glorot-uniform, zero dense bias;</li>
     * <li>{@code torch}: PyTorch's defaults for Conv2d and Linear (kaiming_uniform with a = sqrt(5), i.e.
     * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the dense bias from the same range);</li>
     * <li>{@code glorot_uniform}: Keras' default, U(+-sqrt(6 / (fan_in + fan_out))) with the receptive field in
     * both fans, zero dense bias.</li>
     * </ul>
     * The scale matters for training speed even though batch norm follows every conv: the step a BN-normalised
     * weight takes is lr / |w|^2 in effect, so He-normal (2.4x PyTorch's std) trains a 5-epoch schedule markedly
     * slower; measured in the README's CIFAR section.
     */
    public static void initialize(Module net, long seed) {
        initialize(net, seed, WeightInit.HE_NORMAL);
    }

    public static void initialize(Module net, long seed, WeightInit scheme) {
        SplittableRandom rnd = new SplittableRandom(seed);
        var params = net.namedParams();
        for (var e : params.entrySet()) {
            Param p = e.getValue();
            Tensor t = p.value;
            if (!p.trainable || t.rank() < 2) {
                continue;
            }
            int fanIn = t.size() / t.dim(0);
            int fanOut = t.size() / t.dim(1);
            switch (scheme) {
                case HE_NORMAL -> {
                    if (t.rank() == 4) {
                        normal(t, rnd, Math.sqrt(2.0 / fanIn));
                    } else {
                        uniform(t, rnd, Math.sqrt(6.0 / (t.dim(0) + t.dim(1))));
                    }
                }
                case GLOROT_UNIFORM -> uniform(t, rnd, Math.sqrt(6.0 / (fanIn + fanOut)));
                case TORCH -> {
                    double bound = 1 / Math.sqrt(fanIn);
                    uniform(t, rnd, bound);
                    String name = e.getKey();
                    Param bias = name.endsWith(".weight")
                            ? params.get(name.substring(0, name.length() - ".weight".length()) + ".bias") : null;
                    if (bias != null && bias.trainable && bias.value.rank() == 1 && bias.value.size() == t.dim(0)) {
                        uniform(bias.value, rnd, bound);
                    }
                }
            }
        }
    }

    private static void normal(Tensor t, SplittableRandom rnd, double std) {
        for (int i = 0; i < t.size(); i++) {
            t.set(i, std * rnd.nextGaussian());
        }
    }

    private static void uniform(Tensor t, SplittableRandom rnd, double limit) {
        for (int i = 0; i < t.size(); i++) {
            t.set(i, (2 * rnd.nextDouble() - 1) * limit);
        }
    }
}
