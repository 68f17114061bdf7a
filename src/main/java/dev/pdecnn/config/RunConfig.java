package dev.pdecnn.config;

import dev.pdecnn.UserException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * Everything a run needs, with the study's recipe (SPEC §3) as defaults. Values come from the defaults, then a
 * config file, then command-line options, all through {@link #set}, so a key is validated the same way
 * wherever it comes from. The effective config is saved in every run folder and checkpoint.
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
    public String out = "runs";
    public String name = null;

    /**
     * Not a setting: the origin of a forked run, which the trainer adds to its config.json. Skipped when such a
     * file is read back as a config (--config RUN/config.json), so a fork's config reproduces the fork.
     */
    public static final String RESUMED_FROM = "resumed_from";

    private record Key(String type, Function<RunConfig, Object> get, BiConsumer<RunConfig, Object> set, String help) {
    }

    private static final Map<String, Key> KEYS = new LinkedHashMap<>();

    private static void str(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, String> s, String help) {
        KEYS.put(k, new Key("string", g, (c, v) -> s.accept(c, (String) v), help));
    }

    private static void integer(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, Integer> s, String help) {
        KEYS.put(k, new Key("integer", g, (c, v) -> s.accept(c, ((Number) v).intValue()), help));
    }

    private static void real(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, Double> s, String help) {
        KEYS.put(k, new Key("number", g, (c, v) -> s.accept(c, ((Number) v).doubleValue()), help));
    }

    private static void bool(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, Boolean> s, String help) {
        KEYS.put(k, new Key("boolean", g, (c, v) -> s.accept(c, (Boolean) v), help));
    }

    @SuppressWarnings("unchecked")
    private static void ints(String k, Function<RunConfig, Object> g, BiConsumer<RunConfig, List<Integer>> s, String help) {
        KEYS.put(k, new Key("list of integers", g, (c, v) -> s.accept(c, (List<Integer>) v), help));
    }

    public static final List<String> MODELS = List.of("cnn", "residual", "pde", "resnet32", "resnet32_global", "resnet");
    public static final List<String> DATASETS = List.of("mnist", "cifar10", "folder");
    public static final List<String> WEIGHT_INITS = List.of("he_normal", "torch", "glorot_uniform");
    public static final List<String> SUBNETS = List.of("identity", "dwconv", "conv", "pwconv", "basic");

    static {
        str("model", c -> c.model, (c, v) -> c.model = oneOf("model", v, MODELS), "network: " + MODELS);
        integer("channels", c -> c.channels, (c, v) -> c.channels = atLeast("channels", v, 1), "MNIST block width C");
        integer("K", c -> c.steps, (c, v) -> c.steps = atLeast("K", v, 1), "PDE time steps");
        real("dt", c -> c.dt, (c, v) -> c.dt = positive("dt", v), "PDE time step");
        real("dx", c -> c.dx, (c, v) -> c.dx = positive("dx", v), "grid spacing along rows");
        real("dy", c -> c.dy, (c, v) -> c.dy = positive("dy", v), "grid spacing along columns");
        str("velocity", c -> c.velocity, (c, v) -> c.velocity = oneOf("velocity", v, List.of("learned", "zero")),
                "Global-layer velocity: learned or zero");
        str("velocity_net", c -> c.velocityNet, (c, v) -> c.velocityNet = oneOf("velocity_net", v, SUBNETS),
                "velocity sub-network");
        str("diffusivity", c -> c.diffusivity, (c, v) -> c.diffusivity = oneOf("diffusivity", v,
                List.of("learned", "constant", "perona_malik", "zero")), "diffusivity mode");
        str("diffusivity_net", c -> c.diffusivityNet, (c, v) -> c.diffusivityNet = oneOf("diffusivity_net", v,
                List.of("identity", "dwconv", "conv", "pwconv", "basic")), "diffusivity sub-network");
        real("diffusivity_constant", c -> c.diffusivityConstant, (c, v) -> c.diffusivityConstant = nonNegative(
                "diffusivity_constant", v), "D for diffusivity=constant");
        real("pm_lambda", c -> c.pmLambda, (c, v) -> c.pmLambda = positive("pm_lambda", v), "Perona-Malik lambda");
        str("init", c -> c.init, (c, v) -> c.init = oneOf("init", v, List.of("identity", "basic")),
                "Global-layer h = init(f)");
        integer("blocks", c -> c.blocks, (c, v) -> c.blocks = atLeast("blocks", v, 0), "BasicBlocks per ResNet stage (0 = model default)");
        ints("widths", c -> c.widths, (c, v) -> c.widths = v, "ResNet stage widths");
        ints("global_after", c -> c.globalAfter, (c, v) -> c.globalAfter = v, "stages followed by a Global layer");
        str("dataset", c -> c.dataset, (c, v) -> c.dataset = oneOf("dataset", v, DATASETS), "data set");
        str("data_dir", c -> c.dataDir, (c, v) -> c.dataDir = v, "folder with the data set files");
        integer("pad_crop", c -> c.padCrop, (c, v) -> c.padCrop = atLeast("pad_crop", v, 0),
                "augmentation: zero-pad then random crop (0 = off)");
        bool("hflip", c -> c.hflip, (c, v) -> c.hflip = v, "augmentation: random horizontal flip");
        integer("limit_train", c -> c.limitTrain, (c, v) -> c.limitTrain = atLeast("limit_train", v, 0),
                "use only the first N training images (0 = all)");
        integer("limit_test", c -> c.limitTest, (c, v) -> c.limitTest = atLeast("limit_test", v, 0),
                "use only the first N test images (0 = all)");
        integer("epochs", c -> c.epochs, (c, v) -> c.epochs = atLeast("epochs", v, 1), "training epochs");
        integer("batch_size", c -> c.batchSize, (c, v) -> c.batchSize = atLeast("batch_size", v, 1), "mini-batch size");
        real("lr", c -> c.lr, (c, v) -> c.lr = positive("lr", v), "initial learning rate (cosine decay to 0)");
        real("momentum", c -> c.momentum, (c, v) -> c.momentum = nonNegative("momentum", v), "SGD momentum");
        real("weight_decay", c -> c.weightDecay, (c, v) -> c.weightDecay = nonNegative("weight_decay", v),
                "L2 weight decay (loss term wd * sum(w^2) / 2)");
        real("bn_momentum", c -> c.bnMomentum, (c, v) -> c.bnMomentum = positive("bn_momentum", v),
                "batch-norm running-statistics momentum (PyTorch convention)");
        real("bn_eps", c -> c.bnEps, (c, v) -> c.bnEps = positive("bn_eps", v), "batch-norm epsilon");
        str("weight_init", c -> c.weightInit, (c, v) -> c.weightInit = oneOf("weight_init", v, WEIGHT_INITS),
                "initial conv/dense weights: " + WEIGHT_INITS);
        KEYS.put("seed", new Key("integer", c -> c.seed, (c, v) -> c.seed = ((Number) v).longValue(), "random seed"));
        str("device", c -> c.device, (c, v) -> c.device = v, "cpu, auto, a GPU number N, or emulated");
        str("out", c -> c.out, (c, v) -> c.out = v, "folder that receives run folders");
        str("name", c -> c.name, (c, v) -> c.name = v, "run folder name (default: derived from the model)");
    }

    public static List<String> keys() {
        return List.copyOf(KEYS.keySet());
    }

    public static String help(String key) {
        return KEYS.get(key).help();
    }

    /** Sets {@code key} from a parsed value (String, Number, Boolean or List), validating type and range. */
    public void set(String key, Object value, String source) {
        Key k = KEYS.get(key);
        if (k == null && RESUMED_FROM.equals(key)) {
            return;
        }
        if (k == null) {
            throw new UserException(source + ": unknown key '" + key + "'; allowed keys: " + String.join(", ", KEYS.keySet()));
        }
        Object v = coerce(key, k.type(), value, source);
        try {
            k.set().accept(this, v);
        } catch (IllegalArgumentException e) {
            throw new UserException(source + ": " + e.getMessage());
        }
    }

    private static Object coerce(String key, String type, Object value, String source) {
        String bad = source + ": key '" + key + "' must be " + article(type) + ", got '" + value + "'";
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
                if (value instanceof Integer || value instanceof Long) {
                    return value;
                }
                if (value instanceof Number num && num.doubleValue() == Math.rint(num.doubleValue())
                        && Math.abs(num.doubleValue()) < 1e15) {
                    return num.longValue(); // JSON readers give every number as a double
                }
                if (value instanceof String s) {
                    try {
                        return Long.parseLong(s.trim());
                    } catch (NumberFormatException e) {
                        throw new UserException(bad);
                    }
                }
                throw new UserException(bad);
            case "number":
                if (value instanceof Number) {
                    return value;
                }
                if (value instanceof String s) {
                    try {
                        return Double.parseDouble(s.trim());
                    } catch (NumberFormatException e) {
                        throw new UserException(bad);
                    }
                }
                throw new UserException(bad);
            case "boolean":
                if (value instanceof Boolean) {
                    return value;
                }
                if (value instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) {
                    return Boolean.parseBoolean(s);
                }
                throw new UserException(bad);
            default:
                List<Integer> out = new java.util.ArrayList<>();
                Iterable<?> items;
                if (value instanceof List<?> l) {
                    items = l;
                } else if (value instanceof String s) {
                    items = s.isBlank() ? List.of() : List.of(s.split(","));
                } else {
                    throw new UserException(bad);
                }
                for (Object o : items) {
                    Object n = coerce(key, "integer", o, source);
                    out.add(((Number) n).intValue());
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
            throw new IllegalArgumentException("key '" + key + "' has value '" + v + "'; allowed: " + allowed);
        }
        return s;
    }

    private static int atLeast(String key, int v, int min) {
        if (v < min) {
            throw new IllegalArgumentException("key '" + key + "' must be >= " + min + ", got " + v);
        }
        return v;
    }

    private static double positive(String key, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("key '" + key + "' must be a positive number, got " + v);
        }
        return v;
    }

    private static double nonNegative(String key, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException("key '" + key + "' must be >= 0, got " + v);
        }
        return v;
    }

    /** Checks combinations that single keys cannot (called after file and command line are applied). */
    public void validate() {
        boolean mnistNet = model.equals("cnn") || model.equals("residual") || model.equals("pde");
        if (dataset == null) {
            dataset = mnistNet ? "mnist" : "cifar10";
        }
        if (diffusivity == null) {
            diffusivity = mnistNet ? "constant" : "learned";
        }
        if (blocks == 0) {
            blocks = model.equals("resnet32_global") ? 1 : 5;
        }
        if (globalAfter == null) {
            globalAfter = model.equals("resnet32_global") ? List.of(1, 2, 3) : List.of();
        }
        boolean mnistModel = model.equals("cnn") || model.equals("residual") || model.equals("pde");
        if (mnistModel && !dataset.equals("mnist")) {
            throw new UserException("model '" + model + "' is the MNIST example (28x28x1 input); use dataset mnist or "
                    + "a resnet model for " + dataset);
        }
        if (model.equals("pde") && !(diffusivity.equals("constant") || diffusivity.equals("perona_malik"))) {
            throw new UserException("model 'pde' (MNIST) takes diffusivity constant or perona_malik, got '"
                    + diffusivity + "'");
        }
        if (dataset.equals("mnist") && !mnistModel) {
            throw new UserException("model '" + model + "' is a CIFAR network (32x32x3); MNIST models are cnn, residual, pde");
        }
        if (widths.isEmpty()) {
            throw new UserException("key 'widths' must list at least one stage width");
        }
        for (int s : globalAfter) {
            if (s < 1 || s > widths.size()) {
                throw new UserException("key 'global_after' names stage " + s + "; stages are 1.." + widths.size());
            }
        }
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
