package dev.pdecnn.export;

import dev.pdecnn.config.RunConfig;
import dev.pdecnn.export.onnx.OnnxProto.ModelProto;
import dev.pdecnn.export.onnx.OnnxProto.NodeProto;
import dev.pdecnn.models.Network;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every model of the repository's configs (the eight MNIST models, the eight rows of Table 2), trained a few steps,
 * exported to ONNX and run by ONNX Runtime, gives our evaluation-mode logits on a few hundred random images.
 *
 * <p><b>Tolerance.</b> Both sides compute in float32 (unit round-off u = 6e-8) but in different orders: our im2col
 * GEMMs against ONNX Runtime's MLAS convolutions with BN folded into them, our fused PDE kernel against a graph of
 * element-wise nodes. Each layer's result then differs by a few ulps of its magnitude (a dot product of n terms:
 * up to ~sqrt(n) u relative in practice, n <= 576 here), carried through up to 35 layers and K = 5 explicit PDE
 * steps per Global layer. Measured worst case over all sixteen models (two runs): 2.4e-6 of max(1, the image's largest
 * |logit|); the bound 1e-4 of that leaves a 40x margin (other CPUs pick other MLAS kernels) and is still far
 * below what a mistake of the export gives (measured on ExportCliTest's Perona-Malik model: periodic shifts in the
 * wrong direction moved a logit of -0.743 to -1.122; Sobel filters swapped between Dx and Dy, by 2.4e-3, 24x the
 * bound). Global layers whose evaluation mode amplifies
 * (SPEC §8) also amplify the rounding: with the initial velocity scale, logits reached 1e4 to 1e20 and the
 * relative differences 6e-5, which is why {@link TrainedModels#trained} keeps the velocities small.
 */
class OnnxExportTest {
    private static final double TOL = 1e-4;
    /** Standard ONNX operators the exporter may use; anything else would tie the file to one runtime. */
    private static final Set<String> OPS = Set.of("Sub", "Div", "Conv", "BatchNormalization", "Relu", "Add", "Mul",
            "Sum", "Reciprocal", "Slice", "Concat", "Pad", "AveragePool", "Flatten", "Gemm", "Identity", "Softmax",
            "Shape", "ConstantOfShape");

    @BeforeAll
    static void runtime() {
        assertTrue(OnnxRuntimeCheck.available(), "ONNX Runtime is on the test class path (pom.xml, provided scope)");
    }

    static Stream<String> configs() {
        return TrainedModels.CONFIGS.stream();
    }

    @ParameterizedTest
    @MethodSource("configs")
    void onnxRuntimeGivesOurEvalLogits(String config) {
        long seed = 11 + TrainedModels.CONFIGS.indexOf(config); // a different seed per model
        RunConfig cfg = TrainedModels.config(config, seed);
        boolean mnist = config.startsWith("mnist");
        Network net = TrainedModels.trained(cfg, mnist ? 32 : 8, 8);
        int[] chw = net.inputChw;
        List<String> classes = IntStream.range(0, net.classes).mapToObj(i -> "class " + i).toList();
        ModelProto model = OnnxExport.build(net, TrainedModels.mean(chw[0]), TrainedModels.std(chw[0]), classes,
                Map.of("config", config));
        assertEquals(OnnxExport.OPSET, model.getOpsetImport(0).getVersion());
        for (NodeProto n : model.getGraph().getNodeList()) {
            assertTrue(OPS.contains(n.getOpType()), n.getOpType());
        }

        int n = mnist ? 256 : 128;
        float[] pixels = TrainedModels.pixels(n, chw, seed * 7919);
        float[][] ours = TrainedModels.evalLogits(net, pixels, n);
        float[][] theirs;
        try (OnnxRuntimeModel ort = new OnnxRuntimeModel(model.toByteArray(), 2)) {
            assertEquals(List.of(chw[0], chw[1], chw[2]), IntStream.of(ort.inputChw()).boxed().toList());
            Map<String, String> meta = ort.metadata();
            assertEquals("baked_in", meta.get("normalization"));
            assertTrue(meta.get("class_names").startsWith("[\"class 0\",\"class 1\""), meta.get("class_names"));
            theirs = ort.logits(pixels, n);
        }
        double worst = 0, largest = 0;
        for (int i = 0; i < n; i++) {
            double scale = 1; // per image: a large logit elsewhere must not hide an error in a small one
            for (float v : ours[i]) {
                assertTrue(Float.isFinite(v), config + ": our eval logits are finite");
                scale = Math.max(scale, Math.abs(v));
            }
            largest = Math.max(largest, scale);
            for (int k = 0; k < net.classes; k++) {
                double err = Math.abs(ours[i][k] - theirs[i][k]) / scale;
                worst = Math.max(worst, err);
                assertTrue(err <= TOL, config + ": image " + i + " logit " + k + ": ours " + ours[i][k] + ", ORT "
                        + theirs[i][k] + ", off by " + err + " of max(1, max |logit|)");
            }
        }
        System.out.printf("%s: max |logit| %.3g, max |ours - ORT| / max(1, max |logit|) %.2g%n", config, largest, worst);
    }
}
