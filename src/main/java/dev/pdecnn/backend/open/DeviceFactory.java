package dev.pdecnn.backend.open;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cuda.CudaSession;
import dev.pdecnn.config.Choices.MatmulPrecision;

/**
 * The one place devices are opened, by name: {@code cpu} (the float32 CPU backend), {@code emulated} (the CUDA
 * path on the host build of the kernels) or a GPU number. It returns the backend whose {@link Backend#device()} is
 * the opened device; closing that device gives it back. Above {@code cpu} and {@code cuda}, so neither names the
 * other and callers name neither; nothing of JCuda loads unless a GPU number is asked for. What this machine offers
 * is listed by {@link DeviceList}, beside it.
 */
public final class DeviceFactory {
    private DeviceFactory() {
    }

    /**
     * Opens {@code name} with the config's {@code precision} of float32 matrix products (null: the device's default;
     * the CPU computes in fp32 whatever it says). {@link IllegalArgumentException} for a name that is none of the
     * above or a precision the device cannot run; {@code cuda.KernelException} (and its out-of-memory subclass) when
     * the device cannot be opened.
     */
    public static Backend open(String name, MatmulPrecision precision) {
        String d = name == null ? "cpu" : name.strip();
        if (d.equals("cpu")) {
            return new CpuBackend();
        }
        if (d.equals("emulated")) {
            return CudaSession.emulated(precision);
        }
        int ordinal;
        try {
            ordinal = Integer.parseInt(d);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected cpu, emulated or a GPU number (0, 1, ...), not '" + name + "'");
        }
        if (ordinal < 0) {
            throw new IllegalArgumentException("GPU numbers start at 0");
        }
        return CudaSession.gpu(ordinal, precision);
    }
}
