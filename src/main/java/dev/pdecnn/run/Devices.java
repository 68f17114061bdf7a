package dev.pdecnn.run;

import dev.pdecnn.UserException;
import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.HostDevice;
import dev.pdecnn.backend.open.DeviceFactory;
import dev.pdecnn.backend.cuda.DeviceOutOfMemoryException;
import dev.pdecnn.backend.cuda.GpuInfo;
import dev.pdecnn.backend.cuda.Gpus;
import dev.pdecnn.backend.cuda.KernelException;
import dev.pdecnn.config.Choices.MatmulPrecision;

import java.io.PrintStream;
import java.util.List;
import java.util.function.Supplier;

/**
 * Resolves {@code --device}: {@code cpu}; {@code auto} (GPU 0 when there is one, else the CPU with a notice);
 * a GPU number {@code N}; or {@code emulated} (the GPU path on the host emulation of the kernels, for tests and
 * CI). Nothing of JCuda loads for {@code cpu} or {@code emulated}.
 *
 * <p>Errors are one line and exit 2 when the device cannot be opened (no JCuda, no driver, no GPU N, pool does
 * not fit), exit 4 when the device fails during training (out of device memory, a kernel failure); the message
 * says which tensor or kernel and which shapes.
 */
public final class Devices {
    /** Exit code of a GPU failure during a run. */
    public static final int EXIT_DEVICE_FAILURE = 4;

    private Devices() {
    }

    /** The backend a run trains on, and its device, released after the run. */
    public static final class Opened implements AutoCloseable {
        private final Backend backend;
        private final String device;

        Opened(String device, Backend backend) {
            this.device = device;
            this.backend = backend;
        }

        public Backend backend() {
            return backend;
        }

        /** Where the backend runs: the host, or a GPU (or its emulation) with its memory pool. */
        public Device device() {
            return backend.device();
        }

        /** The device's description for a GPU or the emulation, null on the CPU. */
        public String gpuDescription() {
            return device() instanceof HostDevice ? null : device().description();
        }

        /** Runs {@code body}, turning a device failure into a one-line error with exit code 4. */
        public <T> T guard(Supplier<T> body) {
            return Devices.guard(device, body);
        }

        /** Frees the pool and the device; after a device fault that can fail too, which changes nothing then. */
        @Override
        public void close() {
            if (!(device() instanceof HostDevice)) {
                try {
                    device().close();
                } catch (KernelException ignored) {
                    // a context that faulted (e.g. an illegal address) rejects further calls; the process ends anyway
                }
            }
        }
    }

    /**
     * Runs {@code body} on {@code --device device}, turning a device failure (out of device memory, a kernel
     * failure) into a one-line {@link UserException} with exit code {@value #EXIT_DEVICE_FAILURE}.
     */
    public static <T> T guard(String device, Supplier<T> body) {
        try {
            return body.get();
        } catch (DeviceOutOfMemoryException e) {
            throw new UserException("--device " + device + ": " + oneLine(e.getMessage()), EXIT_DEVICE_FAILURE);
        } catch (KernelException e) {
            throw new UserException("--device " + device + ": GPU failure: " + oneLine(e.getMessage()),
                    EXIT_DEVICE_FAILURE);
        }
    }

    /** Opens what {@code --device} names; a GPU run prints which device and the note on cuDNN / cuBLAS. */
    public static Opened open(String device, PrintStream out) {
        return open(device, (MatmulPrecision) null, out);
    }

    /**
     * As {@link #open(String, PrintStream)}, with the config's {@code precision} of the float32 matrix products
     * (null: PyTorch's default, see {@link dev.pdecnn.backend.cuda.Precision}); the CPU computes in fp32 whatever
     * it says, with a note when it says tf32.
     */
    public static Opened open(String device, MatmulPrecision precision, PrintStream out) {
        String d = device == null ? "cpu" : device.strip();
        switch (d) {
            case "cpu":
                if (precision == MatmulPrecision.TF32) {
                    out.println("note: --precision tf32 applies to GPU convolutions; the CPU computes in fp32");
                }
                return new Opened(d, DeviceFactory.open("cpu", precision));
            case "auto": {
                GpuInfo.Probe p = probe(d);
                String why = p.reason() != null ? p.reason() : p.gpus().isEmpty() ? p.gpuList() : null;
                if (why == null) {
                    try {
                        return gpu(d, 0, precision, out);
                    } catch (UserException e) {
                        why = e.getMessage();
                    }
                }
                out.println("note: --device auto: no usable GPU (" + why + "); training on the CPU");
                return new Opened(d, DeviceFactory.open("cpu", precision));
            }
            case "emulated":
                return session(d, out, false, () -> DeviceFactory.open(d, precision));
            default:
                int n;
                try {
                    n = Integer.parseInt(d);
                } catch (NumberFormatException e) {
                    throw new UserException("--device '" + device + "': expected cpu, auto, a GPU number (0, 1, ...) or "
                            + "emulated");
                }
                if (n < 0) {
                    throw new UserException("--device " + device + ": GPU numbers start at 0");
                }
                return gpu(d, n, precision, out);
        }
    }

    private static GpuInfo.Probe probe(String device) {
        try {
            return Gpus.probe();
        } catch (RuntimeException e) {
            throw new UserException("--device " + device + ": " + oneLine(String.valueOf(e.getMessage())));
        }
    }

    private static Opened gpu(String device, int ordinal, MatmulPrecision precision, PrintStream out) {
        GpuInfo.Probe p = probe(device);
        if (p.reason() != null) {
            throw new UserException("--device " + device + ": " + p.reason() + "; use --device cpu (or auto)");
        }
        if (ordinal >= p.gpus().size()) {
            throw new UserException("--device " + device + ": no GPU " + ordinal + ", " + p.gpuList()
                    + " ('java -jar trainer.jar devices' lists them)");
        }
        return session(device, out, true, () -> DeviceFactory.open(Integer.toString(ordinal), precision));
    }

    /** {@code gpu}: a real GPU, whose note lists the NVIDIA libraries that do not load (the emulation asks nothing). */
    private static Opened session(String device, PrintStream out, boolean gpu, Supplier<Backend> open) {
        Backend be;
        try {
            be = open.get();
        } catch (KernelException | IllegalArgumentException e) {
            throw new UserException("--device " + device + ": " + oneLine(String.valueOf(e.getMessage())));
        }
        out.println("device: " + be.device().description());
        out.println("note: " + librariesNote(gpu));
        return new Opened(device, be);
    }

    /** The one notice about cuDNN / cuBLAS: this version runs its own kernels for every operation. */
    static String librariesNote(boolean probe) {
        StringBuilder b = new StringBuilder("every operation runs on the trainer's own CUDA kernels (cuDNN and cuBLAS "
                + "are not used in this version");
        List<GpuInfo.Library> missing = !probe ? List.of() : Gpus.libraries().stream().filter(l -> !l.loaded()).toList();
        if (!missing.isEmpty()) {
            b.append("; not loadable here:");
            for (GpuInfo.Library l : missing) {
                b.append(' ').append(l.soname());
            }
        }
        return b.append(')').toString();
    }

    static String oneLine(String s) {
        return s.strip().replaceAll("\\s*\\R\\s*", " | ");
    }
}
