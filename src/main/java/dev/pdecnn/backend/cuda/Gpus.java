package dev.pdecnn.backend.cuda;

import dev.pdecnn.backend.cuda.GpuInfo.Library;
import dev.pdecnn.backend.cuda.GpuInfo.Probe;

import java.util.List;

import static dev.pdecnn.backend.cuda.GpuInfo.JCUDA_VERSION;
import static dev.pdecnn.backend.cuda.GpuInfo.nativeReason;

/**
 * What this machine offers for GPU training: the driver, its GPUs, and whether the optional NVIDIA libraries that
 * JCuda 11.7.0 binds (cuBLAS 11, cuDNN 8, cuRAND 10) load, in the terms of {@link GpuInfo}. The answers come from
 * {@link JCudaKernelRunner}, so nothing of JCuda loads until one of them is asked for. Every answer is computed once
 * per JVM and kept: a native library that failed to load cannot be retried, so the first reason is the one worth
 * reporting.
 */
public final class Gpus {
    private static Probe probe;
    private static List<Library> libraries;

    private Gpus() {
    }

    /** The driver and its GPUs (computed once). */
    public static synchronized Probe probe() {
        if (probe == null) {
            probe = doProbe();
        }
        return probe;
    }

    private static Probe doProbe() {
        try {
            return JCudaKernelRunner.probeDriver();
        } catch (LinkageError e) { // JCuda's classes themselves are missing or broken
            return new Probe("JCuda " + JCUDA_VERSION + " is unusable: " + nativeReason(e), 0, List.of());
        }
    }

    /**
     * cuBLAS 11, cuDNN 8 and cuRAND 10 through JCublas2, JCudnn and JCurand: whether their native libraries load
     * (computed once). This version runs its own kernels for every operation either way.
     */
    public static synchronized List<Library> libraries() {
        if (libraries == null) {
            try {
                libraries = JCudaKernelRunner.probeLibraries();
            } catch (LinkageError e) {
                String why = "JCuda " + JCUDA_VERSION + " is unusable: " + nativeReason(e);
                libraries = List.of(new Library("cuBLAS 11", "libcublas.so.11", false, why),
                        new Library("cuDNN 8", "libcudnn.so.8", false, why),
                        new Library("cuRAND 10", "libcurand.so.10", false, why));
            }
        }
        return libraries;
    }
}
