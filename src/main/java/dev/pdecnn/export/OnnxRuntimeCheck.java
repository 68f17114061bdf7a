package dev.pdecnn.export;

import dev.pdecnn.UserException;

/**
 * Whether ONNX Runtime's Java API is on the class path. The trainer jar does not bundle it (pom.xml: scope
 * provided, ~140 MB of natives for every platform); this class names no ONNX Runtime type, so it loads without it,
 * and callers ask it before touching {@link OnnxRuntimeModel}.
 */
public final class OnnxRuntimeCheck {
    /** The version the build compiles and tests against (pom.xml, onnxruntime.version). */
    public static final String VERSION = "1.22.0";

    private OnnxRuntimeCheck() {
    }

    public static boolean available() {
        try {
            Class.forName("ai.onnxruntime.OrtEnvironment", false, OnnxRuntimeCheck.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /** Throws a one-line {@link UserException} saying how to add ONNX Runtime when it is absent. */
    public static void require(String what) {
        if (!available()) {
            throw new UserException(what + " needs ONNX Runtime, which trainer.jar does not bundle: add onnxruntime-"
                    + VERSION + ".jar to the class path: java -cp trainer.jar:onnxruntime-" + VERSION
                    + ".jar dev.pdecnn.cli.Main ... (get it with: mvn dependency:copy -Dartifact=com.microsoft."
                    + "onnxruntime:onnxruntime:" + VERSION + " -DoutputDirectory=.; see docs/onnx.md)");
        }
    }
}
