package dev.pdecnn.config;

import dev.pdecnn.UserException;
import dev.pdecnn.config.Choices.DataSet;
import dev.pdecnn.config.Choices.Diffusivity;
import dev.pdecnn.config.Choices.MatmulPrecision;
import dev.pdecnn.config.Choices.Model;
import dev.pdecnn.config.Choices.SubNet;
import dev.pdecnn.config.Choices.Velocity;
import dev.pdecnn.config.Choices.WeightInit;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Everything a run needs, with the study's recipe (docs/design.md §3) as defaults. Values come from the defaults, then a
 * config file, then command-line options, all through {@link #set}, so a key is validated the same way
 * wherever it comes from. The effective config is saved in every run folder and checkpoint. {@link #validate}
 * checks the combinations and parses the keys once into typed parts ({@link TypedConfig}: model, data,
 * optimisation, run), which is what the code that trains and builds reads.
 */
public final class RunConfig {
    // model
    public String model = "pde";
    public int channels = 8;
    public int steps = 5;
    public double dt = 0.2;
    public double dx = 1.0;
    public double dy = 1.0;
    public String velocity = "learned";
    public String velocityNet = "dwconv";
    public String diffusivity = null; // model default: constant for pde, learned for Global layers
    public String diffusivityNet = "dwconv";
    public double diffusivityConstant = 1.0;
    public double pmLambda = 2.0;
    public String init = "identity";
    public int blocks = 0; // 0 = model default: 5 (resnet32), 1 (resnet32_global)
    public List<Integer> widths = List.of(16, 32, 64, 64);
    public List<Integer> globalAfter = null; // model default: none, or 1,2,3 for resnet32_global
    // data
    public String dataset = null; // model default: mnist for cnn/residual/pde, cifar10 for ResNets
    public String dataDir = null;
    public int padCrop = 4;
    public boolean hflip = true;
    public int limitTrain = 0;
    public int limitTest = 0;
    // optimisation
    public int epochs = 100;
    public int batchSize = 32;
    public double lr = 1e-2;
    public double momentum = 0.9;
    public double weightDecay = 5e-4;
    public double bnMomentum = 0.01;
    public double bnEps = 1e-3;
    public String weightInit = "torch";
    public long seed = 1;
    // run
    public String device = "cpu";
    public String precision = null; // float32 matrix products on a GPU: tf32 or fp32; null = the device's default (KernelRunner.tf32ByDefault)
    public String out = "runs";
    public String name = null;

    /**
     * Not a setting: the origin of a forked run, which the trainer adds to its config.json. Skipped when such a
     * file is read back as a config (--config RUN/config.json), so a fork's config reproduces the fork.
     */
    public static final String RESUMED_FROM = "resumed_from";
    /** Not settings either: facts of the training data that config.json records for users of the model. */
    public static final String NORMALIZATION = "normalization", CLASS_NAMES = "class_names";
    private static final java.util.Set<String> RECORDS = java.util.Set.of(RESUMED_FROM, NORMALIZATION, CLASS_NAMES);

    /**
     * One config key: its value type, getter, validated setter, help line, and, for numbers and lists of
     * integers, the allowed range of the value (of each element for lists); for a choice, the allowed values.
     */
    private record Key(String type, Function<RunConfig, Object> get, BiConsumer<RunConfig, Object> set, String help,
                       Range range, List<String> choices) {
        Key(String type, Function<RunConfig, Object> get, BiConsumer<RunConfig, Object> set, String help, Range range) {
            this(type, get, set, help, range, null);
        }
    }

    /** What {@link #validate} made of the values it checked; {@link #typed} reuses it while they are unchanged. */
    private transient TypedConfig validated;

    private static final Map<String, Key> KEYS = new LinkedHashMap<>();

    // Bounds that are not obvious from the meaning of a key. Each is far beyond the study's values (K 5, C 1 and
    // 8, 5 blocks of 16-64 channels, batch 32, 100-200 epochs) and low enough that a model of these sizes is
    // built in well under a second; the model's total size has its own bound, MAX_PARAMS.
    public static final int MAX_K = 100;
    public static final int MAX_CHANNELS = 1024;
    public static final int MAX_BLOCKS = 200; // the deepest CIFAR ResNet published (ResNet-1202) has 200 per stage
    /** 32x32 input halves with every stage after the first: a seventh stage would work on 1x1 maps. */
    public static final int MAX_STAGES = 6;
    public static final int MAX_EPOCHS = 100_000;
    public static final int MAX_BATCH = 16_384;
    public static final int MAX_PAD_CROP = 16;
    /**
     * At most this many parameters (weights of the 3x3 convolutions and the classifier, counted before anything
     * is allocated): 100 M float32 parameters with their gradients and SGD velocities take 1.2 GB.
     */
    public static final long MAX_PARAMS = 100_000_000L;

    private static void str(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, String> s, String help) {
        KEYS.put(k, new Key("string", g, (c, v) -> s.accept(c, (String) v), help, null));
    }

    /**
     * A string key that takes one of {@code allowed} (any case, '-' for '_'); {@code unset}: null is allowed too
     * (the key's default then comes from elsewhere).
     */
    private static void choice(String k, List<String> allowed, boolean unset, Function<RunConfig, Object> g,
                               BiConsumer<RunConfig, String> s, String help) {
        BiConsumer<RunConfig, Object> set = (c, v) -> s.accept(c, v == null && unset ? null : oneOf(k, (String) v, allowed));
        KEYS.put(k, new Key("string", g, set, help, null, allowed));
    }

    private static void integer(String k, long min, long max, Function<RunConfig, Object> g,
                                BiConsumer<RunConfig, Integer> s, String help) {
        KEYS.put(k, new Key("integer", g, (c, v) -> s.accept(c, Math.toIntExact((Long) v)), help, Range.ints(min, max)));
    }

    private static void real(String k, Range r, Function<RunConfig, Object> g, BiConsumer<RunConfig, Double> s,
                             String help) {
        KEYS.put(k, new Key("number", g, (c, v) -> s.accept(c, (Double) v), help, r));
    }

    private static void bool(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, Boolean> s, String help) {
        KEYS.put(k, new Key("boolean", g, (c, v) -> s.accept(c, (Boolean) v), help, null));
    }

    @SuppressWarnings("unchecked")
    private static void ints(String k, long min, long max, Function<RunConfig, Object> g,
                             BiConsumer<RunConfig, List<Integer>> s, String help) {
        KEYS.put(k, new Key("list of integers", g, (c, v) -> s.accept(c, (List<Integer>) v), help, Range.ints(min, max)));
    }

    /** The networks, named once by their enum; the MNIST illustrative example's (28x28x1 input) first. */
    public static final List<String> MODELS = Choices.names(Model.values());
    /** The MNIST illustrative example's models; the others are CIFAR ResNets (32x32x3). */
    public static final List<String> MNIST_MODELS = Choices.names(
            java.util.Arrays.stream(Model.values()).filter(Model::mnist).toList());

    static {
        Range pos = Range.positive(), nonNeg = Range.nonNegative();
        choice("model", MODELS, false, c -> c.model, (c, v) -> c.model = v, "network: " + MODELS);
        integer("channels", 1, MAX_CHANNELS, c -> c.channels, (c, v) -> c.channels = v, "MNIST block width C");
        integer("K", 1, MAX_K, c -> c.steps, (c, v) -> c.steps = v, "PDE time steps");
        real("dt", pos, c -> c.dt, (c, v) -> c.dt = v, "PDE time step");
        real("dx", pos, c -> c.dx, (c, v) -> c.dx = v, "grid spacing along rows");
        real("dy", pos, c -> c.dy, (c, v) -> c.dy = v, "grid spacing along columns");
        List<String> subNets = Choices.names(SubNet.values());
        choice("velocity", Choices.names(Velocity.values()), false, c -> c.velocity, (c, v) -> c.velocity = v,
                "Global-layer velocity: " + String.join(", ", Choices.names(Velocity.values())));
        choice("velocity_net", subNets, false, c -> c.velocityNet, (c, v) -> c.velocityNet = v, "velocity sub-network");
        choice("diffusivity", Choices.names(Diffusivity.values()), false, c -> c.diffusivity,
                (c, v) -> c.diffusivity = v, "diffusivity mode");
        choice("diffusivity_net", subNets, false, c -> c.diffusivityNet, (c, v) -> c.diffusivityNet = v,
                "diffusivity sub-network");
        real("diffusivity_constant", nonNeg, c -> c.diffusivityConstant, (c, v) -> c.diffusivityConstant = v,
                "D for diffusivity=constant");
        real("pm_lambda", pos, c -> c.pmLambda, (c, v) -> c.pmLambda = v, "Perona-Malik lambda");
        choice("init", Choices.names(Choices.INITS), false, c -> c.init, (c, v) -> c.init = v,
                "Global-layer h = init(f)");
        integer("blocks", 0, MAX_BLOCKS, c -> c.blocks, (c, v) -> c.blocks = v,
                "BasicBlocks per ResNet stage (0 = model default)");
        ints("widths", 1, MAX_CHANNELS, c -> c.widths, (c, v) -> c.widths = stages("widths", v, false),
                "ResNet stage widths");
        ints("global_after", 1, MAX_STAGES, c -> c.globalAfter, (c, v) -> c.globalAfter = stages("global_after", v, true),
                "stages followed by a Global layer");
        choice("dataset", Choices.names(DataSet.values()), false, c -> c.dataset, (c, v) -> c.dataset = v, "data set");
        str("data_dir", c -> c.dataDir, (c, v) -> c.dataDir = v, "folder with the data set files");
        integer("pad_crop", 0, MAX_PAD_CROP, c -> c.padCrop, (c, v) -> c.padCrop = v,
                "augmentation: zero-pad then random crop (0 = off)");
        bool("hflip", c -> c.hflip, (c, v) -> c.hflip = v, "augmentation: random horizontal flip");
        integer("limit_train", 0, Integer.MAX_VALUE, c -> c.limitTrain, (c, v) -> c.limitTrain = v,
                "use only the first N training images (0 = all)");
        integer("limit_test", 0, Integer.MAX_VALUE, c -> c.limitTest, (c, v) -> c.limitTest = v,
                "use only the first N test images (0 = all)");
        integer("epochs", 1, MAX_EPOCHS, c -> c.epochs, (c, v) -> c.epochs = v, "training epochs");
        integer("batch_size", 1, MAX_BATCH, c -> c.batchSize, (c, v) -> c.batchSize = v, "mini-batch size");
        real("lr", pos, c -> c.lr, (c, v) -> c.lr = v, "initial learning rate (cosine decay to 0)");
        real("momentum", Range.reals(0, true, 1, false), c -> c.momentum, (c, v) -> c.momentum = v, "SGD momentum");
        real("weight_decay", nonNeg, c -> c.weightDecay, (c, v) -> c.weightDecay = v,
                "L2 weight decay (loss term wd * sum(w^2) / 2)");
        real("bn_momentum", Range.reals(0, false, 1, true), c -> c.bnMomentum, (c, v) -> c.bnMomentum = v,
                "batch-norm running-statistics momentum (PyTorch convention)");
        real("bn_eps", pos, c -> c.bnEps, (c, v) -> c.bnEps = v, "batch-norm epsilon");
        choice("weight_init", Choices.names(WeightInit.values()), false, c -> c.weightInit,
                (c, v) -> c.weightInit = v, "initial conv/dense weights: " + Choices.names(WeightInit.values()));
        KEYS.put("seed", new Key("integer", c -> c.seed, (c, v) -> c.seed = (Long) v, "random seed",
                Range.ints(Long.MIN_VALUE, Long.MAX_VALUE)));
        str("device", c -> c.device, (c, v) -> c.device = v, "cpu, auto, a GPU number N, or emulated");
        choice("precision", Choices.names(MatmulPrecision.values()), true, c -> c.precision, (c, v) -> c.precision = v,
                "GPU convolutions and dense layer: tf32 (tensor cores, sm_80+) or fp32; unset: the device's default "
                        + "(fp32 until the TF32 kernels are verified on a GPU)");
        str("out", c -> c.out, (c, v) -> c.out = v, "folder that receives run folders");
        str("name", c -> c.name, (c, v) -> c.name = v, "run folder name (default: derived from the model)");
    }

    public static List<String> keys() {
        return List.copyOf(KEYS.keySet());
    }

    /** The allowed values of a choice key (as its enum names them), null for other keys. */
    public static List<String> choices(String key) {
        return KEYS.get(key).choices();
    }

    public static String help(String key) {
        Key k = KEYS.get(key);
        return k.range() == null ? k.help() : k.help() + " (" + k.range().text() + ")";
    }

    /** The allowed values of a numeric key (of each element for a list), as --help writes them; null for others. */
    public static String rangeText(String key) {
        Range r = KEYS.get(key).range();
        return r == null ? null : r.text();
    }

    /** Sets {@code key} from a parsed value (String, Number, Boolean or List), validating type and range. */
    public void set(String key, Object value, String source) {
        Key k = KEYS.get(key);
        if (k == null && RECORDS.contains(key)) {
            return;
        }
        if (k == null) {
            throw new UserException(source + ": unknown key '" + Values.show(key) + "'; allowed keys: "
                    + String.join(", ", KEYS.keySet()));
        }
        Object v = coerce(key, k, value, source);
        try {
            k.set().accept(this, v);
        } catch (IllegalArgumentException e) {
            throw new UserException(source + ": " + e.getMessage());
        }
    }

    private static Object coerce(String key, Key k, Object value, String source) {
        String type = k.type();
        String bad = source + ": key '" + key + "' must be " + article(type) + ", got '" + Values.show(value) + "'";
        switch (type) {
            case "string":
                if (value == null) {
                    return null;
                }
                if (value instanceof String || value instanceof Number) {
                    return value.toString();
                }
                throw new UserException(bad);
            case "integer":
                return Values.integer(source, key, value, k.range(), bad, "must be an integer in ");
            case "number":
                Double d = Values.real(value);
                if (d == null) {
                    throw new UserException(bad);
                }
                if (!k.range().contains(d)) {
                    throw new UserException(source + ": key '" + key + "' must be a finite number " + k.range().text()
                            + ", got " + d);
                }
                return d;
            case "boolean":
                if (value instanceof Boolean) {
                    return value;
                }
                if (value instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) {
                    return Boolean.parseBoolean(s);
                }
                throw new UserException(bad);
            default:
                List<?> items;
                if (value instanceof List<?> l) {
                    items = l;
                } else if (value instanceof String s) {
                    items = s.isBlank() ? List.of() : List.of(s.split(",", -1));
                } else {
                    throw new UserException(bad);
                }
                // Longer lists than the number of stages are refused by the setter; this only keeps a hostile
                // file's million-element list from being converted first.
                if (items.size() > MAX_STAGES) {
                    throw new UserException(source + ": key '" + key + "' lists " + items.size() + " values; at most "
                            + MAX_STAGES + " stages are allowed");
                }
                List<Integer> out = new java.util.ArrayList<>();
                for (Object o : items) {
                    String badItem = source + ": key '" + key + "' must be a list of integers, got '"
                            + Values.show(value) + "'";
                    out.add(Math.toIntExact(Values.integer(source, key, o, k.range(), badItem, "must list integers in ")));
                }
                return out;
        }
    }

    private static String article(String type) {
        return type.startsWith("i") ? "an " + type : "a " + type;
    }

    private static String oneOf(String key, String v, List<String> allowed) {
        String s = v == null ? null : v.toLowerCase(Locale.ROOT).replace('-', '_');
        if (!allowed.contains(s)) {
            throw new IllegalArgumentException("key '" + key + "' has value '" + Values.show(v) + "'; allowed: " + allowed);
        }
        return s;
    }

    /** Stage lists: 1..MAX_STAGES entries for widths; for global_after at most that many, each stage once. */
    private static List<Integer> stages(String key, List<Integer> v, boolean distinct) {
        if (v == null) {
            throw new IllegalArgumentException("key '" + key + "' must be a list of integers");
        }
        if (!distinct && v.isEmpty()) {
            throw new IllegalArgumentException("key '" + key + "' must list at least one stage width");
        }
        if (distinct && new java.util.HashSet<>(v).size() != v.size()) {
            throw new IllegalArgumentException("key '" + key + "' names a stage twice: " + v);
        }
        return List.copyOf(v);
    }

    /**
     * Checks combinations that single keys cannot (called after file and command line are applied), fills in the
     * model's defaults, and parses the result once into its typed parts.
     */
    public TypedConfig validate() {
        Model m = Choices.parse(Model.class, model);
        if (dataset == null) {
            dataset = Choices.name(m.mnist() ? DataSet.MNIST : DataSet.CIFAR10);
        }
        if (diffusivity == null) {
            diffusivity = Choices.name(m.mnist() ? Diffusivity.CONSTANT : Diffusivity.LEARNED);
        }
        if (blocks == 0) {
            blocks = m == Model.RESNET32_GLOBAL ? 1 : 5;
        }
        if (globalAfter == null) {
            globalAfter = m == Model.RESNET32_GLOBAL ? List.of(1, 2, 3) : List.of();
        }
        DataSet data = Choices.parse(DataSet.class, dataset);
        if (m.mnist() && data != DataSet.MNIST) {
            throw new UserException("model '" + model + "' is the MNIST example (28x28x1 input); use dataset mnist or "
                    + "a resnet model for " + dataset);
        }
        if (m == Model.PDE && !Choices.MNIST_PDE_DIFFUSIVITIES.contains(Choices.parse(Diffusivity.class, diffusivity))) {
            throw new UserException("model 'pde' (MNIST) takes diffusivity "
                    + String.join(" or ", Choices.names(Choices.MNIST_PDE_DIFFUSIVITIES)) + ", got '" + diffusivity + "'");
        }
        if (data == DataSet.MNIST && !m.mnist()) {
            throw new UserException("model '" + model + "' is a CIFAR network (32x32x3); MNIST models are "
                    + String.join(", ", MNIST_MODELS));
        }
        if (widths.isEmpty()) {
            throw new UserException("key 'widths' must list at least one stage width");
        }
        if (widths.size() > MAX_STAGES) {
            throw new UserException("key 'widths' lists " + widths.size() + " stages; at most " + MAX_STAGES);
        }
        for (int s : globalAfter) {
            if (s < 1 || s > widths.size()) {
                throw new UserException("key 'global_after' names stage " + s + "; stages are 1.." + widths.size());
            }
        }
        long params = minParams();
        if (params > MAX_PARAMS) {
            throw new UserException(String.format(Locale.ROOT, "the model would have more than %,d parameters (limit "
                    + "%,d); lower 'widths', 'blocks' or 'channels'", params, MAX_PARAMS));
        }
        validated = new TypedConfig(new ModelConfig(this),
                new DataConfig(data, dataDir, padCrop, hflip, limitTrain, limitTest),
                new OptimConfig(epochs, batchSize, lr, momentum, weightDecay, seed),
                new RunSetup(device, Choices.parse(MatmulPrecision.class, precision), out, name), snapshot());
        return validated;
    }

    /**
     * The typed parts of the current values: what {@link #validate} made of them when none has changed since
     * (nothing is checked or parsed twice), else {@link #validate} now.
     */
    public TypedConfig typed() {
        return validated != null && validated.keys().equals(toMap()) ? validated : validate();
    }

    /** The model part, typed ({@link ModelConfig}); see {@link #typed}. */
    public ModelConfig modelPart() {
        return typed().model();
    }

    /** {@link #toMap}, read-only, with copies of the lists: what the typed parts were made from. */
    private Map<String, Object> snapshot() {
        Map<String, Object> m = toMap();
        m.replaceAll((k, v) -> v instanceof List<?> l ? List.copyOf(l) : v);
        return Collections.unmodifiableMap(m);
    }

    /** Input channels of the model: 1 for the MNIST models, 3 for the CIFAR ResNets (after {@link #validate}). */
    public int inputChannels() {
        return isMnistModel() ? 1 : 3;
    }

    /** Whether the model is one of the MNIST example's ({@link #MNIST_MODELS}). */
    public boolean isMnistModel() {
        return MNIST_MODELS.contains(model);
    }

    /**
     * A lower bound of the model's parameter count, computed from the keys alone (after {@link #validate}'s
     * defaults): the 3x3 convolutions of the stem and the blocks, and the classifier. It lets a huge model be
     * refused, and a checkpoint whose tensors are too few for its stored config be refused, before anything is
     * allocated. Exact arithmetic in long: every factor is bounded by the key ranges.
     */
    public long minParams() {
        if (inputChannels() == 1) {
            long c = channels;
            return 9 * c + 9 * c * c + 49 * c * 10; // conv0, the block's conv, the dense layer on 7x7xC
        }
        long n = 27L * widths.get(0); // conv1, 3 -> widths[0]
        long cin = widths.get(0);
        for (int w : widths) {
            if (blocks > 0) {
                n += 9 * cin * w + 9L * w * w * (2L * blocks - 1);
            }
            cin = w;
        }
        return n + 10 * cin;
    }

    /** The effective configuration as an ordered map (for JSON/YAML output). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        for (Map.Entry<String, Key> e : KEYS.entrySet()) {
            m.put(e.getKey(), e.getValue().get().apply(this));
        }
        return m;
    }

    /** A config from a saved key-value map (a run's config.json or a checkpoint's state), validated key by key. */
    public static RunConfig fromMap(Map<String, Object> map, String source) {
        RunConfig c = new RunConfig();
        for (Map.Entry<String, Object> e : map.entrySet()) {
            if (e.getValue() != null) {
                c.set(e.getKey(), e.getValue(), source);
            }
        }
        return c;
    }

    /** A copy through the same validated setters (call after {@link #validate}, when no key is null). */
    public RunConfig copy() {
        return fromMap(toMap(), "copy");
    }

}
