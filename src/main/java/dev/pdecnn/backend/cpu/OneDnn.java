package dev.pdecnn.backend.cpu;

import dev.pdecnn.Settings;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.global.openblas_nolapack;

import java.util.Locale;

/**
 * oneDNN ({@code org.bytedeco:dnnl}, linux-x86_64 natives) for the fast backend's float32 convolutions: loading,
 * the one CPU engine and stream, and the thread count. {@link OneDnnConv} runs the primitives; {@link ConvPath}
 * decides per shape whether they or the built-in kernels run.
 *
 * <p>Setting {@code pdecnn.cpu.conv}: {@code auto} (default: oneDNN for the shapes where it measured faster, when
 * its natives load), {@code onednn} (every convolution through oneDNN) or {@code builtin} (never load it).
 *
 * <p>Threads: this oneDNN build runs on OpenMP (GNU libgomp, shipped beside it), whose team size is a per-thread
 * value that defaults to every core the process may use. We do not use the team: {@link OneDnnConv} splits the
 * batch over our own pool ({@link Parallel}, setting {@code pdecnn.cpu.threads}) and each task calls oneDNN
 * single-threaded, so the one thread setting governs oneDNN too and sweep workers sharing a machine do not
 * oversubscribe it. The Java bindings do not expose {@code omp_set_num_threads}, so it is found by name in the
 * loaded libraries ({@link Loader#addressof}) and called through a JavaCPP function-pointer type of the OpenBLAS
 * bindings whose native signature, {@code void (*)(int, void*, int)}, passes its first argument where
 * {@code void omp_set_num_threads(int)} reads its only one (the first integer register on x86-64 and AArch64;
 * the callee ignores the other two). JavaCPP keeps a function pointer's address in the first word of the
 * object it points to, hence the one-element holder. Each thread that calls oneDNN sets its team size to one
 * once ({@link #useThreads}). When the symbol cannot be found, oneDNN is not used.
 */
public final class OneDnn {
    private OneDnn() {
    }

    /** The setting's value, normalised: auto, onednn or builtin. */
    private static final String SETTING = mode(Settings.CPU_CONV.text("auto"));
    /** The mode in use: the setting, or what {@link #setMode} chose. */
    private static volatile String mode = SETTING;
    /** Why oneDNN is not in use, or null when it is. */
    private static final String WHY_NOT;
    private static final engine ENGINE;
    private static final stream STREAM;
    private static final openblas_nolapack.openblas_dojob_callback SET_THREADS;
    /** Whether the thread has made its OpenMP team size one. */
    private static final ThreadLocal<boolean[]> SINGLE = ThreadLocal.withInitial(() -> new boolean[1]);

    static {
        String why = null;
        engine eng = null;
        stream st = null;
        openblas_nolapack.openblas_dojob_callback setter = null;
        if (SETTING.equals("builtin")) {
            why = "pdecnn.cpu.conv=builtin";
        } else {
            try {
                eng = new engine(engine.kind.cpu, 0);
                st = new stream(eng);
                Loader.load(openblas_nolapack.class);
                Pointer fn = Loader.addressof("omp_set_num_threads");
                if (fn == null || fn.isNull()) {
                    why = "omp_set_num_threads not found, so oneDNN's threads could not follow pdecnn.cpu.threads";
                } else {
                    LongPointer holder = new LongPointer(1).put(fn.address());
                    setter = new openblas_nolapack.openblas_dojob_callback(holder);
                }
            } catch (Throwable t) {
                why = "oneDNN could not be loaded (" + t + ")";
            }
            if (why != null) {
                System.err.println("note: " + why + "; float32 convolutions use the built-in kernels");
            }
        }
        WHY_NOT = why;
        ENGINE = why == null ? eng : null;
        STREAM = why == null ? st : null;
        SET_THREADS = why == null ? setter : null;
    }

    private static String mode(String v) {
        String m = v.trim().toLowerCase(Locale.ROOT);
        if (m.equals("auto") || m.equals("onednn") || m.equals("builtin")) {
            return m;
        }
        System.err.println("note: unknown pdecnn.cpu.conv=" + v + " (auto, onednn or builtin); using auto");
        return "auto";
    }

    /** auto, onednn or builtin. */
    public static String mode() {
        return mode;
    }

    /**
     * Switches the mode (auto, onednn or builtin) and returns the previous one, for tests and benchmarks that
     * compare the paths in one process. Without the natives every mode runs the built-in kernels.
     */
    public static String setMode(String m) {
        String was = mode;
        mode = mode(m);
        return was;
    }

    /** True when oneDNN's natives are loaded and its thread count can be set. */
    static boolean available() {
        return WHY_NOT == null;
    }

    static engine engine() {
        return ENGINE;
    }

    static stream stream() {
        return STREAM;
    }

    /** Makes oneDNN single-threaded on the calling thread (once per thread; see the class comment). */
    static void useThreads() {
        boolean[] done = SINGLE.get();
        if (!done[0]) {
            SET_THREADS.call(1, null, 0);
            done[0] = true;
        }
    }

    /**
     * For logs and bench: "oneDNN 3.11.0 (auto)", or "oneDNN off" (setting builtin) or "oneDNN not loaded" (the
     * reason was printed once when it was tried).
     */
    public static String describe() {
        if (WHY_NOT != null) {
            return SETTING.equals("builtin") ? "oneDNN off" : "oneDNN not loaded";
        }
        var v = dnnl.dnnl_version();
        return String.format(Locale.ROOT, "oneDNN %d.%d.%d (%s)", v.major(), v.minor(), v.patch(), mode);
    }
}
