package dev.pdecnn.gpu;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.CudaDevice;
import dev.pdecnn.backend.cuda.CudaSession;
import dev.pdecnn.backend.cuda.HostBuild;
import dev.pdecnn.run.Devices;
import dev.pdecnn.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * JCuda stays out of the CPU path and the emulated device: only {@code JCudaKernelRunner} and {@code JCudaStepGraph} name JCuda, and nothing
 * on these paths touches it. The trainer's classes run in a fresh class loader that records every request for a
 * {@code jcuda.*} class (and refuses it), so a stray reference fails here rather than loading JCuda's natives on a
 * machine without a GPU.
 */
class JCudaIsolationTest {
    /** Loads dev.pdecnn classes itself (fresh copies), records and refuses jcuda classes, delegates the rest. */
    static final class Isolating extends ClassLoader {
        final List<String> jcuda = new CopyOnWriteArrayList<>();

        Isolating(ClassLoader parent) {
            super(parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith("jcuda.")) {
                jcuda.add(name);
                throw new ClassNotFoundException(name + " (refused: JCuda must not load here)");
            }
            if (!name.startsWith("dev.pdecnn.")) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try (InputStream in = getParent().getResourceAsStream(name.replace('.', '/') + ".class")) {
                        if (in == null) {
                            throw new ClassNotFoundException(name);
                        }
                        byte[] b = in.readAllBytes();
                        c = defineClass(name, b, 0, b.length);
                    } catch (IOException e) {
                        throw new ClassNotFoundException(name, e);
                    }
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }

    /** What runs inside the isolating loader: the CPU device, then (when it builds) the emulated one. */
    public static final class Paths implements Runnable {
        @Override
        public void run() {
            PrintStream quiet = new PrintStream(new ByteArrayOutputStream());
            try (Devices.Opened cpu = Devices.open("cpu", quiet)) {
                relu(cpu.backend());
            }
            if (HostBuild.build().ok()) {
                CudaBackend be = CudaSession.emulated(1 << 20, true);
                try (CudaDevice d = be.device()) {
                    relu(be);
                }
                try (Devices.Opened emulated = Devices.open("emulated", quiet)) {
                    relu(emulated.backend());
                }
            }
        }

        private static void relu(Backend b) {
            Tensor x = Tensor.of(new float[]{-1, 2, -3, 4}, 4), y = b.zeros(4);
            b.relu(x, y);
            y.download(); // a device result is read on the host explicitly
            if (y.get(1) != 2 || y.get(0) != 0) {
                throw new AssertionError("relu on " + b);
            }
        }
    }

    @Test
    void cpuAndEmulatedPathsNeverLoadJCuda() throws Exception {
        Isolating loader = new Isolating(getClass().getClassLoader());
        Class<?> paths = loader.loadClass(Paths.class.getName());
        assertTrue(paths.getClassLoader() == loader, "the probe runs on the fresh copies");
        ((Runnable) paths.getConstructor().newInstance()).run();
        assertEquals(List.of(), loader.jcuda, "JCuda classes requested on the CPU / emulated paths");
    }
}
