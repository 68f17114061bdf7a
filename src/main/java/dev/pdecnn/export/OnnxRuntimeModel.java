package dev.pdecnn.export;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.pdecnn.UserException;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;

/**
 * An exported model in ONNX Runtime on the CPU, for the tests, the inference benchmark and {@code predict --onnx}.
 * Check {@link OnnxRuntimeCheck#require} first: this class cannot load without ONNX Runtime on the class path.
 */
public final class OnnxRuntimeModel implements AutoCloseable {
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final long[] inputChw;
    private final int classes;

    /** The model in {@code bytes}, run by {@code threads} intra-op threads (the inter-op pool is not used). */
    public OnnxRuntimeModel(byte[] bytes, int threads) {
        this(bytes, null, threads);
    }

    public OnnxRuntimeModel(Path file, int threads) {
        this(null, file, threads);
    }

    private OnnxRuntimeModel(byte[] bytes, Path file, int threads) {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            session = bytes != null ? env.createSession(bytes, o) : env.createSession(file.toString(), o);
            var info = (ai.onnxruntime.TensorInfo) session.getInputInfo().get(OnnxExport.INPUT).getInfo();
            long[] shape = info.getShape();
            inputChw = new long[]{shape[1], shape[2], shape[3]};
            var out = (ai.onnxruntime.TensorInfo) session.getOutputInfo().get(OnnxExport.LOGITS).getInfo();
            classes = (int) out.getShape()[1];
        } catch (OrtException | NullPointerException | ClassCastException | ArrayIndexOutOfBoundsException e) {
            throw new UserException("ONNX Runtime cannot use " + (file == null ? "the model" : file)
                    + " as an exported classifier (input '" + OnnxExport.INPUT + "' [N,C,H,W] expected): " + e.getMessage());
        }
    }

    /** C, H, W of the model's input. */
    public int[] inputChw() {
        return new int[]{(int) inputChw[0], (int) inputChw[1], (int) inputChw[2]};
    }

    /** The number of logits per image. */
    public int classes() {
        return classes;
    }

    /** The model's metadata_props (class_names, normalization, model, ...). */
    public Map<String, String> metadata() {
        try {
            return session.getMetadata().getCustomMetadata();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Logits [n][classes] of n images, pixels [n, C, H, W] in [0, 1] in NCHW order. */
    public float[][] logits(float[] pixels, int n) {
        long[] shape = {n, inputChw[0], inputChw[1], inputChw[2]};
        try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), shape);
             OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, in), java.util.Set.of(OnnxExport.LOGITS))) {
            return (float[][]) r.get(OnnxExport.LOGITS).orElseThrow().getValue();
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }
}
