package dev.pdecnn.export;

import com.google.gson.Gson;
import dev.pdecnn.config.Choices;
import dev.pdecnn.export.OnnxGraph.Val;
import dev.pdecnn.export.onnx.OnnxProto.GraphProto;
import dev.pdecnn.export.onnx.OnnxProto.ModelProto;
import dev.pdecnn.export.onnx.OnnxProto.OperatorSetIdProto;
import dev.pdecnn.export.onnx.OnnxProto.StringStringEntryProto;
import dev.pdecnn.export.onnx.OnnxProto.TensorProto;
import dev.pdecnn.export.onnx.OnnxProto.TensorShapeProto;
import dev.pdecnn.export.onnx.OnnxProto.TypeProto;
import dev.pdecnn.export.onnx.OnnxProto.ValueInfoProto;
import dev.pdecnn.models.MnistBlocks;
import dev.pdecnn.models.Network;
import dev.pdecnn.nn.AvgPool;
import dev.pdecnn.nn.BasicBlock;
import dev.pdecnn.nn.BatchNorm2d;
import dev.pdecnn.nn.Conv2d;
import dev.pdecnn.nn.Dense;
import dev.pdecnn.nn.GlobalLayer;
import dev.pdecnn.nn.GlobalSpec;
import dev.pdecnn.nn.Identity;
import dev.pdecnn.nn.Module;
import dev.pdecnn.nn.Param;
import dev.pdecnn.nn.Sequential;
import dev.pdecnn.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A trained {@link Network} in evaluation mode as an ONNX model (opset {@value #OPSET}, IR version
 * {@value #IR_VERSION}), built with the protobuf classes generated from ONNX's own onnx.proto.
 *
 * <p><b>Interface.</b> Input {@value #INPUT}: float32 [N, C, H, W] (N free; C, H, W the model's: 1 x 28 x 28 for
 * MNIST, 3 x 32 x 32 for CIFAR-10) with pixels scaled to [0, 1]. The per-channel normalisation
 * (x - mean) / std of the run's training split is <em>baked in</em> as the first two nodes, and also recorded in
 * the metadata ({@code normalization_mean}, {@code normalization_std}, {@code normalization=baked_in}) for
 * reference. Outputs: {@value #LOGITS} [N, classes] and {@value #PROBABILITIES} [N, classes] (softmax of the
 * logits). Metadata {@code class_names} lists the classes in logit order as a JSON array.
 *
 * <p><b>Operators.</b> Conv (no bias), BatchNormalization (eval: running statistics), Relu, Add, AveragePool,
 * Flatten, Gemm, Softmax; the Global layer's PDE as Mul/Add/Sub/Sum/Reciprocal with Slice + Concat for the
 * periodic neighbours, Perona–Malik as Pad (reflect) + fixed depthwise Conv ({@link PdeGraph}); the
 * zeros a {@code zero_input} velocity reads as ConstantOfShape(Shape(h)). Initializers carry
 * the PyTorch-style parameter names of the checkpoint ({@code layer1.0.conv1.weight}).
 */
public final class OnnxExport {
    public static final int OPSET = 17;
    /** IR version 8 is the one that goes with opset 17 (ONNX 1.12); every ONNX Runtime since 1.12 loads it. */
    public static final int IR_VERSION = 8;
    public static final String INPUT = "image";
    public static final String LOGITS = "logits";
    public static final String PROBABILITIES = "probabilities";

    private final OnnxGraph g = new OnnxGraph();

    private OnnxExport() {
    }

    /**
     * The model of {@code net} in evaluation mode.
     *
     * @param mean       per-channel mean of [0, 1] pixels the network was trained with (baked in); null for none
     * @param std        per-channel standard deviation; null together with mean
     * @param classNames class names in logit order (written to the metadata)
     * @param metadata   further metadata_props entries (run name, config, ...)
     */
    public static ModelProto build(Network net, double[] mean, double[] std, List<String> classNames,
                                   Map<String, String> metadata) {
        if (classNames.size() != net.classes) {
            throw new IllegalArgumentException(classNames.size() + " class names for " + net.classes + " classes");
        }
        int c = net.inputChw[0];
        if (mean != null && (mean.length != c || std == null || std.length != c)) {
            throw new IllegalArgumentException("normalisation needs " + c + " means and stds");
        }
        OnnxExport e = new OnnxExport();
        String x = INPUT;
        if (mean != null) {
            x = e.g.node("Sub", "centred", x, e.g.floats("normalization.mean", mean, 1, c, 1, 1));
            x = e.g.node("Div", "normalised", x, e.g.floats("normalization.std", std, 1, c, 1, 1));
        }
        String logits = e.g.node("Identity", LOGITS, e.emit(net.body(), "", x));
        e.g.node("Softmax", PROBABILITIES, new String[]{logits}, OnnxGraph.integer("axis", 1));
        GraphProto.Builder gp = e.g.proto().setName(net.name);
        gp.addInput(valueInfo(INPUT, "N", net.inputChw[0], net.inputChw[1], net.inputChw[2]));
        gp.addOutput(valueInfo(LOGITS, "N", net.classes));
        gp.addOutput(valueInfo(PROBABILITIES, "N", net.classes));
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(IR_VERSION).setProducerName("pde-trainer")
                .setProducerVersion("0.1.0").setDomain("dev.pdecnn").setModelVersion(1)
                .setDocString("Evaluation-mode export of " + net.name + "; input " + INPUT + " is [N,"
                        + net.inputChw[0] + "," + net.inputChw[1] + "," + net.inputChw[2] + "] float32 pixels in [0,1]"
                        + (mean == null ? "" : ", normalised inside the graph") + ".")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setGraph(gp);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("model", net.name);
        meta.put("class_names", jsonStrings(classNames));
        meta.put("input", INPUT + ": float32 [N," + net.inputChw[0] + "," + net.inputChw[1] + "," + net.inputChw[2]
                + "], pixels scaled to [0,1]");
        meta.put("outputs", LOGITS + ", " + PROBABILITIES + ": float32 [N," + net.classes + "]");
        if (mean != null) {
            meta.put("normalization", "baked_in");
            meta.put("normalization_mean", Arrays.toString(mean));
            meta.put("normalization_std", Arrays.toString(std));
        } else {
            meta.put("normalization", "none");
        }
        meta.putAll(metadata);
        meta.forEach((k, v) -> m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }

    /** ["a","b"]: Gson's default escaping, as the predict side's reader expects. */
    private static String jsonStrings(List<String> names) {
        return new Gson().toJson(names);
    }

    private static ValueInfoProto valueInfo(String name, String batchDim, int... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(batchDim));
        for (int d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT.getNumber()).setShape(shape)))
                .build();
    }

    /** Appends the nodes of module m (full parameter-name prefix {@code prefix}) applied to x; returns its output. */
    private String emit(Module m, String prefix, String x) {
        if (m instanceof Sequential s) {
            for (var e : s.children().entrySet()) {
                x = emit(e.getValue(), prefix + e.getKey() + ".", x);
            }
            return x;
        } else if (m instanceof Identity) {
            return x;
        } else if (m instanceof Conv2d c) {
            return conv(c, prefix, x);
        } else if (m instanceof BatchNorm2d bn) {
            return batchNorm(bn, prefix, x);
        } else if (m instanceof AvgPool p) {
            return g.node("AveragePool", "pool", new String[]{x}, OnnxGraph.ints("kernel_shape", p.k(), p.k()),
                    OnnxGraph.ints("strides", p.k(), p.k()));
        } else if (m instanceof Dense d) {
            String flat = g.node("Flatten", "flat", new String[]{x}, OnnxGraph.integer("axis", 1));
            return g.node("Gemm", "dense", new String[]{flat, weight(d, prefix, "weight"), weight(d, prefix, "bias")},
                    OnnxGraph.integer("transB", 1));
        } else if (m instanceof BasicBlock b) {
            return basicBlock(b, prefix, x);
        } else if (m instanceof GlobalLayer gl) {
            return global(gl, prefix, x);
        } else if (m instanceof MnistBlocks.Cnn || m instanceof MnistBlocks.Residual || m instanceof MnistBlocks.Pde) {
            return mnistBlock(m, prefix, x);
        }
        throw new IllegalArgumentException("no ONNX form for module " + m.getClass().getSimpleName() + " at " + prefix);
    }

    private String conv(Conv2d c, String prefix, String x) {
        return g.node("Conv", "conv", new String[]{x, weight(c, prefix, "weight")},
                OnnxGraph.ints("kernel_shape", c.k, c.k), OnnxGraph.ints("strides", c.spec.stride(), c.spec.stride()),
                OnnxGraph.ints("pads", c.spec.pad(), c.spec.pad(), c.spec.pad(), c.spec.pad()),
                OnnxGraph.integer("group", c.spec.groups()));
    }

    private String batchNorm(BatchNorm2d bn, String prefix, String x) {
        String y = g.node("BatchNormalization", "bn", new String[]{x, weight(bn, prefix, "weight"),
                weight(bn, prefix, "bias"), weight(bn, prefix, "running_mean"), weight(bn, prefix, "running_var")},
                OnnxGraph.real("epsilon", bn.eps()));
        return bn.relu ? g.node("Relu", "relu", y) : y;
    }

    private String basicBlock(BasicBlock b, String prefix, String x) {
        Map<String, Module> ch = b.children();
        String y = x;
        for (String name : List.of("conv1", "bn1", "conv2", "bn2")) {
            y = emit(ch.get(name), prefix + name + ".", y);
        }
        Module shortcut = ch.get("shortcut");
        String s = shortcut == null ? x : emit(shortcut, prefix + "shortcut.", x);
        return g.node("Relu", "relu", g.node("Add", "residual", y, s));
    }

    private String global(GlobalLayer gl, String prefix, String f) {
        GlobalSpec spec = gl.spec();
        Map<String, Module> ch = gl.children();
        String h = ch.containsKey("init") ? emit(ch.get("init"), prefix + "init.", f) : f;
        // zero_input (the study's diffusion equation): the velocity networks read zeros of h's shape, as
        // tf.zeros(h.shape) does; ConstantOfShape's default value is a float 0
        String g0 = spec.velocity() == Choices.Velocity.ZERO_INPUT
                ? g.node("ConstantOfShape", "zeros", g.node("Shape", "shape", h)) : h;
        Val u = branch(ch, "vel_u", prefix, g0), v = branch(ch, "vel_v", prefix, g0);
        Val dX, dY;
        switch (spec.diffusivity()) {
            case LEARNED -> {
                dX = branch(ch, "diff_x", prefix, h);
                dY = branch(ch, "diff_y", prefix, h);
            }
            case PERONA_MALIK -> {
                Val[] d = PdeGraph.peronaMalik(g, h, channels(gl), spec.pmLambda(), prefix + "perona_malik");
                dX = d[0];
                dY = d[1];
            }
            case CONSTANT -> dX = dY = Val.of(spec.diffusivityConstant());
            default -> dX = dY = Val.of(0);
        }
        String out = PdeGraph.evolve(g, f, h, u, v, dX, dY, spec.pde());
        return emit(ch.get("bn_out"), prefix + "bn_out.", out);
    }

    /** The output of a Global layer's sub-network branch (relu(BN(net(h)))), or the constant 0 when absent. */
    private Val branch(Map<String, Module> ch, String name, String prefix, String h) {
        Module m = ch.get(name);
        return m == null ? Val.of(0) : Val.of(emit(m, prefix + name + ".", h));
    }

    private static int channels(GlobalLayer gl) {
        return ((BatchNorm2d) gl.children().get("bn_out")).c;
    }

    private String mnistBlock(Module m, String prefix, String f) {
        Map<String, Module> ch = m.children();
        if (m instanceof MnistBlocks.Cnn) {
            return emit(ch.get("bn"), prefix + "bn.", emit(ch.get("conv"), prefix + "conv.", f));
        }
        String r = emit(ch.get("conv"), prefix + "conv.", emit(ch.get("bn_pre"), prefix + "bn_pre.", f));
        String out;
        if (m instanceof MnistBlocks.Pde p) {
            Val u = Val.of(r), dX, dY;
            if (p.peronaMalik()) {
                Val[] d = PdeGraph.peronaMalik(g, f, ((BatchNorm2d) ch.get("bn_out")).c, p.lambda(), prefix + "perona_malik");
                dX = d[0];
                dY = d[1];
            } else {
                dX = dY = Val.of(p.dConst());
            }
            out = PdeGraph.evolve(g, f, f, u, u, dX, dY, p.pdeSpec());
        } else {
            out = g.node("Add", "residual", r, f);
        }
        return emit(ch.get("bn_out"), prefix + "bn_out.", out);
    }

    /** A module's own parameter as a float32 initializer under its full name. */
    private String weight(Module m, String prefix, String name) {
        Param p = m.namedParams().get(name);
        Tensor t = p.value.download();
        double[] v = new double[t.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.get(i);
        }
        long[] dims = Arrays.stream(t.shape()).asLongStream().toArray();
        return g.floats(prefix + name, v, dims);
    }
}
