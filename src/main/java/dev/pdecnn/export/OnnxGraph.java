package dev.pdecnn.export;

import com.google.protobuf.ByteString;
import dev.pdecnn.export.onnx.OnnxProto.AttributeProto;
import dev.pdecnn.export.onnx.OnnxProto.GraphProto;
import dev.pdecnn.export.onnx.OnnxProto.NodeProto;
import dev.pdecnn.export.onnx.OnnxProto.TensorProto;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A graph under construction: nodes in topological order (each is appended after its inputs exist) and
 * float32/int64 initializers, with unique value names. Arithmetic goes through {@link Val} so that the scalars
 * of a layer with constant or zero coefficients fold away at export time instead of becoming nodes: a Global
 * layer with zero velocity gets no advection terms at all, one with constant diffusivity multiplies by
 * scalar initializers.
 */
final class OnnxGraph {
    /** A value: the name of a tensor in the graph, or a scalar known at export time (name null). */
    record Val(String name, double scalar) {
        static Val of(String name) {
            return new Val(name, Double.NaN);
        }

        static Val of(double c) {
            return new Val(null, c);
        }

        boolean isConst() {
            return name == null;
        }

        boolean is(double c) {
            return isConst() && scalar == c;
        }
    }

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Map<String, Integer> used = new HashMap<>();
    private final Map<Double, String> scalars = new HashMap<>();
    private final Map<List<Long>, String> int64Consts = new HashMap<>();

    GraphProto.Builder proto() {
        return graph;
    }

    /** A fresh value name starting with {@code base}. */
    String fresh(String base) {
        int n = used.merge(base, 1, Integer::sum);
        return n == 1 ? base : base + "_" + (n - 1);
    }

    /** Appends a node {@code op(inputs) -> one fresh output} and returns the output's name. */
    String node(String op, String outBase, String[] inputs, AttributeProto... attrs) {
        String out = fresh(outBase);
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(fresh("node_" + out)).addOutput(out);
        for (String in : inputs) {
            n.addInput(in);
        }
        for (AttributeProto a : attrs) {
            n.addAttribute(a);
        }
        graph.addNode(n);
        return out;
    }

    String node(String op, String outBase, String... inputs) {
        return node(op, outBase, inputs, new AttributeProto[0]);
    }

    /** A float32 initializer of the given shape (values rounded from double, as our float32 backend holds them). */
    String floats(String name, double[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            b.putFloat((float) v);
        }
        return initializer(name, TensorProto.DataType.FLOAT, b.array(), dims);
    }

    String int64s(String name, long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return initializer(name, TensorProto.DataType.INT64, b.array(), values.length);
    }

    private String initializer(String base, TensorProto.DataType type, byte[] raw, long... dims) {
        String name = fresh(base);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber())
                .setRawData(ByteString.copyFrom(raw));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        return name;
    }

    /** An int64 vector initializer shared by every use of the same values (Slice bounds, Pad widths). */
    String int64Const(long... values) {
        List<Long> key = new ArrayList<>();
        for (long v : values) {
            key.add(v);
        }
        return int64Consts.computeIfAbsent(key, k -> int64s("ints", values));
    }

    /** A float32 scalar initializer (shape []), shared by every use of the same value. */
    String scalar(double c) {
        return scalars.computeIfAbsent(c, v -> floats("const", new double[]{v}));
    }

    private String tensor(Val v) {
        return v.isConst() ? scalar(v.scalar()) : v.name();
    }

    Val add(Val a, Val b) {
        if (a.isConst() && b.isConst()) {
            return Val.of(a.scalar() + b.scalar());
        }
        if (a.is(0)) {
            return b;
        }
        if (b.is(0)) {
            return a;
        }
        return Val.of(node("Add", "add", tensor(a), tensor(b)));
    }

    Val sub(Val a, Val b) {
        if (a.isConst() && b.isConst()) {
            return Val.of(a.scalar() - b.scalar());
        }
        if (b.is(0)) {
            return a;
        }
        return Val.of(node("Sub", "sub", tensor(a), tensor(b)));
    }

    /** The sum of the terms: one variadic Sum node over the tensor terms, the constant terms folded into one. */
    Val sum(List<Val> terms) {
        double c = 0;
        List<String> names = new ArrayList<>();
        for (Val t : terms) {
            if (t.isConst()) {
                c += t.scalar();
            } else {
                names.add(t.name());
            }
        }
        if (names.isEmpty()) {
            return Val.of(c);
        }
        if (c != 0) {
            names.add(scalar(c));
        }
        return names.size() == 1 ? Val.of(names.get(0)) : Val.of(node("Sum", "sum", names.toArray(new String[0])));
    }

    Val mul(Val a, Val b) {
        if (a.isConst() && b.isConst()) {
            return Val.of(a.scalar() * b.scalar());
        }
        if (a.is(0) || b.is(0)) {
            return Val.of(0);
        }
        if (a.is(1)) {
            return b;
        }
        if (b.is(1)) {
            return a;
        }
        return Val.of(node("Mul", "mul", tensor(a), tensor(b)));
    }

    Val mul(double a, Val b) {
        return mul(Val.of(a), b);
    }

    /** 1 / a. */
    Val reciprocal(Val a) {
        return a.isConst() ? Val.of(1 / a.scalar()) : Val.of(node("Reciprocal", "recip", a.name()));
    }

    static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    static AttributeProto integer(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    static AttributeProto real(String name, double value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT)
                .setF((float) value).build();
    }

    static AttributeProto string(String name, String value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(value)).build();
    }
}
