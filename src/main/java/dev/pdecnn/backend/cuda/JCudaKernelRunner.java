package dev.pdecnn.backend.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import jcuda.jcublas.JCublas2;
import jcuda.jcudnn.JCudnn;
import jcuda.jcurand.JCurand;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import static jcuda.driver.JCudaDriver.cuCtxCreate;
import static jcuda.driver.JCudaDriver.cuCtxDestroy;
import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

/**
 * Runs the committed kernels on an NVIDIA GPU through JCuda's driver API ({@code org.jcuda:jcuda:11.7.0}, which
 * needs only the driver's libcuda.so.1). With {@link JCudaStepGraph} (the CUDA graphs of steps on this runner)
 * it is the only class that names JCuda: nothing else in the trainer touches them, so JCuda's classes and native libraries load only when a GPU is asked for ({@code --device N} or
 * {@code auto}, the {@code devices} command, {@link Gpus}), never on the CPU path or on the emulated device. The
 * driver's error codes are checked after every call (JCuda's exceptions stay off) and become
 * {@link KernelException}s naming the call.
 *
 * <p>Modules: each source's fatbin (built with nvcc 11.8: SASS for sm_70, sm_75, sm_80, sm_86, sm_89 and sm_90,
 * plus compute_70 and compute_80 PTX of ISA 7.8) is loaded, and the driver takes the SASS for the GPU at hand or JIT-compiles the
 * embedded PTX (GPUs newer than sm_90); should the driver refuse the fatbin, the module's .ptx is loaded instead.
 * {@code PDECNN_CUDA_FORCE_PTX=1} loads every module from its .ptx, so the PTX JIT path can be tested on a GPU
 * that has SASS. {@link #modulePaths()} says which path each loaded module took ({@link KernelPath}).
 * Launches above 48 KiB of dynamic shared memory opt in per kernel (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
 * up to the device's opt-in limit, which {@link #maxSharedBytesPerBlock()} reports.
 *
 * <p>Device pointers are handed out as {@link DevicePtr}s whose address is a handle (allocation id in the
 * high bits, byte offset in the low 40), mapped back to JCuda's {@code CUdeviceptr} on use.
 *
 * <p>Staged uploads ({@link #toDeviceAsync}): page-locked host buffers from cuMemAllocHost, copied with
 * cuMemcpyHtoDAsync on one extra stream created CU_STREAM_NON_BLOCKING (so it does not serialise with the
 * legacy default stream the kernels run on), waited for with cuStreamSynchronize.
 *
 * <p>Launches are asynchronous: kernels, memsets and copies all go to the legacy default stream, so they run in
 * issue order, and a copy to the host waits for the kernels before it; the host does not wait per launch. A
 * kernel fault then surfaces at the next call that waits (usually the step's loss download) and names that call,
 * not the kernel. {@code PDECNN_CUDA_SYNC=1} (or {@code -Dpdecnn.cuda.sync=true}) synchronises after every launch,
 * so a failure names its kernel and shapes: use it to find a faulting kernel.
 */
public final class JCudaKernelRunner implements KernelRunner {
    private static final long OFFSET_BITS = 40, OFFSET_MASK = (1L << OFFSET_BITS) - 1;
    /** Dynamic shared memory every GPU grants a block without opting in. */
    private static final int DEFAULT_SHARED = 48 * 1024;

    private final int ordinal;
    private final CUcontext context = new CUcontext();
    private final String name;
    private final int maxShared;
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, String> kernelModule;
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<String, String> modulePaths = new java.util.TreeMap<>();
    private final int ccMajor, ccMinor;
    private final boolean forcePtx = KernelPath.forcePtx();
    private final Map<Long, CUdeviceptr> allocations = new HashMap<>();
    private final Map<String, Integer> sharedOptIn = new HashMap<>();
    private final AtomicLong ids = new AtomicLong();
    /** The copy stream of staged uploads (created on first use) and each staging buffer's page-locked memory. */
    private CUstream copyStream;
    private final Map<ByteBuffer, Pointer> pinned = new IdentityHashMap<>();
    private final KernelModules kernels = KernelModules.load();
    private final boolean syncEachLaunch = syncEachLaunch();
    /** Set by {@link #close()}: the context is destroyed. */
    private boolean closed;

    /** Whether every launch is followed by a context synchronisation (see the class comment). */
    static boolean syncEachLaunch() {
        return dev.pdecnn.Settings.CUDA_SYNC.flag(false);
    }

    // ------------------------------------------------------------------------------ loading the driver

    private static boolean driverLoaded;
    private static String driverFailure;

    /**
     * Loads JCuda's driver binding (and so libcuda.so.1), or throws a {@link KernelException} saying why not. The
     * outcome is kept: a native library that failed to load cannot be retried in the same JVM (the class stays
     * uninitialised), so the first reason is the one to report.
     */
    private static synchronized void loadDriver() {
        if (!driverLoaded && driverFailure == null) {
            try {
                JCudaDriver.setExceptionsEnabled(false); // the first touch runs JCuda's native loader
                driverLoaded = true;
            } catch (NoClassDefFoundError e) {
                driverFailure = missingClass(e) ? "JCuda " + GpuInfo.JCUDA_VERSION
                        + " (org.jcuda:jcuda and its linux-x86_64 natives) is not on the classpath" : driverLoadFailure(e);
            } catch (LinkageError e) {
                driverFailure = driverLoadFailure(e);
            } catch (RuntimeException e) {
                driverFailure = "JCuda unusable: " + GpuInfo.firstLine(String.valueOf(e));
            }
        }
        if (!driverLoaded) {
            throw new KernelException(driverFailure);
        }
    }

    /** A class missing from the classpath (as opposed to one whose initialisation failed). */
    private static boolean missingClass(NoClassDefFoundError e) {
        return e.getMessage() != null && !e.getMessage().startsWith("Could not initialize");
    }

    private static String driverLoadFailure(Throwable e) {
        String why = GpuInfo.nativeReason(e);
        return why.contains("libcuda.so")
                ? "no NVIDIA driver: " + why
                : "JCuda's native driver library did not load: " + why;
    }

    /** Throws a {@link KernelException} "CUDA call: CUDA_ERROR_..." unless {@code result} is CUDA_SUCCESS. */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new KernelException("CUDA " + call + ": " + CUresult.stringFor(result));
        }
    }

    private static int attribute(CUdevice dev, int attribute) {
        int[] v = new int[1];
        check(cuDeviceGetAttribute(v, attribute, dev), "cuDeviceGetAttribute");
        return v[0];
    }

    private static String deviceName(CUdevice dev) {
        byte[] buf = new byte[256];
        check(cuDeviceGetName(buf, buf.length, dev), "cuDeviceGetName");
        int len = 0;
        while (len < buf.length && buf[len] != 0) {
            len++;
        }
        return new String(buf, 0, len, StandardCharsets.UTF_8);
    }

    private static CUdevice device(int ordinal) {
        CUdevice dev = new CUdevice();
        check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
        return dev;
    }

    /** What {@link Gpus#probe()} reports: the driver and its GPUs, or why the driver cannot be used. */
    static GpuInfo.Probe probeDriver() {
        try {
            loadDriver();
        } catch (KernelException e) {
            return new GpuInfo.Probe(e.getMessage(), 0, List.of());
        }
        try {
            check(cuInit(0), "cuInit");
        } catch (KernelException e) {
            return new GpuInfo.Probe("the NVIDIA driver is present but cuInit failed: " + GpuInfo.firstLine(e.getMessage()), 0,
                    List.of());
        }
        int[] v = new int[1];
        int driver = 0;
        try {
            check(cuDriverGetVersion(v), "cuDriverGetVersion");
            driver = v[0];
            check(cuDeviceGetCount(v), "cuDeviceGetCount");
        } catch (KernelException e) {
            return new GpuInfo.Probe("the CUDA driver failed: " + GpuInfo.firstLine(e.getMessage()), driver, List.of());
        }
        List<GpuInfo.Gpu> gpus = new ArrayList<>();
        for (int i = 0, n = v[0]; i < n; i++) {
            CUdevice dev = device(i);
            long[] total = new long[1];
            check(cuDeviceTotalMem(total, dev), "cuDeviceTotalMem");
            gpus.add(new GpuInfo.Gpu(i, deviceName(dev),
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), total[0],
                    attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)));
        }
        return new GpuInfo.Probe(null, driver, List.copyOf(gpus));
    }

    /** What {@link Gpus#libraries()} reports: whether cuBLAS 11, cuDNN 8 and cuRAND 10 load through JCuda. */
    static List<GpuInfo.Library> probeLibraries() {
        return List.of(
                library("cuBLAS 11", "libcublas.so.11", "jcuda.jcublas.JCublas2", () -> {
                    JCublas2.setExceptionsEnabled(false);
                    return "loaded";
                }),
                library("cuDNN 8", "libcudnn.so.8", "jcuda.jcudnn.JCudnn", () -> {
                    long ver = JCudnn.cudnnGetVersion();
                    return "loaded, version " + ver / 1000 + "." + ver % 1000 / 100 + "." + ver % 100;
                }),
                library("cuRAND 10", "libcurand.so.10", "jcuda.jcurand.JCurand", () -> {
                    int[] ver = new int[1];
                    JCurand.curandGetVersion(ver);
                    return "loaded, version " + ver[0] / 1000 + "." + ver[0] % 1000 / 100 + "." + ver[0] % 100;
                }));
    }

    /** Touches a binding (its first use loads its natives): loaded with {@code detail}, or why not. */
    private static GpuInfo.Library library(String name, String soname, String binding, Supplier<String> detail) {
        try {
            return new GpuInfo.Library(name, soname, true, detail.get());
        } catch (NoClassDefFoundError e) {
            return new GpuInfo.Library(name, soname, false, missingClass(e)
                    ? "JCuda binding " + binding + " is not on the classpath" : GpuInfo.nativeReason(e));
        } catch (LinkageError e) {
            return new GpuInfo.Library(name, soname, false, GpuInfo.nativeReason(e));
        } catch (RuntimeException e) {
            return new GpuInfo.Library(name, soname, false, GpuInfo.firstLine(String.valueOf(e.getMessage())));
        }
    }

    /** Whether a GPU can be used: null when it can, otherwise the reason (JCuda missing, no driver, no device). */
    public static String unavailableReason() {
        GpuInfo.Probe p = probeDriver();
        if (p.reason() != null) {
            return p.reason();
        }
        return p.gpus().isEmpty() ? "the CUDA driver reports no GPU" : null;
    }

    // ------------------------------------------------------------------------------------ the runner

    private JCudaKernelRunner(int ordinal) {
        loadDriver();
        check(cuInit(0), "cuInit");
        this.ordinal = ordinal;
        CUdevice dev = device(ordinal);
        check(cuCtxCreate(context, 0, dev), "cuCtxCreate");
        int major = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        maxShared = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        name = "GPU " + ordinal + ": " + deviceName(dev) + " (sm_" + major + minor + ")";
        kernelModule = kernels.kernels();
        ccMajor = major;
        ccMinor = minor;
    }

    /** Module -> the path it took on this GPU ("SASS sm_90", "PTX JIT (compute_80)", ...), for modules loaded so far. */
    public synchronized Map<String, String> modulePaths() {
        return Map.copyOf(modulePaths);
    }

    /**
     * Opens GPU {@code ordinal} (a context on it; modules load on first use). Throws {@link KernelException}
     * saying why when it cannot: JCuda missing, no driver, or no GPU of that number (the message lists the GPUs).
     */
    public static JCudaKernelRunner open(int ordinal) {
        GpuInfo.Probe p = probeDriver();
        if (p.reason() != null) {
            throw new KernelException(p.reason());
        }
        if (ordinal < 0 || ordinal >= p.gpus().size()) {
            throw new KernelException("no GPU " + ordinal + ": " + p.gpuList());
        }
        return new JCudaKernelRunner(ordinal);
    }

    public int ordinal() {
        return ordinal;
    }

    /** {free, total} bytes of device memory now (cuMemGetInfo). */
    public synchronized long[] memoryInfo() {
        current();
        long[] free = new long[1], total = new long[1];
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new long[]{free[0], total[0]};
    }

    @Override
    public String description() {
        return name;
    }

    @Override
    public int maxSharedBytesPerBlock() {
        return maxShared;
    }

    /**
     * Makes this runner's context current. After {@link #close()} the context handle is dangling and the driver
     * would crash on it (seen on an H200: SIGSEGV in cuCtxSetCurrent when a tensor of a closed runner was
     * garbage-collected and its buffer returned), so a closed runner refuses every call instead.
     */
    void current() {
        if (closed) {
            throw new KernelException(name + ": this GPU runner is closed");
        }
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    private CUfunction function(String kernel) {
        CUfunction f = functions.get(kernel);
        if (f != null) {
            return f;
        }
        String m = kernelModule.get(kernel);
        if (m == null) {
            throw new KernelException("no kernel named " + kernel + " in the committed PTX");
        }
        CUmodule mod = modules.get(m);
        if (mod == null) {
            mod = new CUmodule();
            if (!forcePtx && cuModuleLoadData(mod, kernels.fatbin(m)) == CUresult.CUDA_SUCCESS) {
                // the driver took the SASS for this GPU, or JIT-compiled the newest PTX of the fatbin that fits it
                modulePaths.put(m, KernelPath.choose(ccMajor, ccMinor, kernels.fatbinContents(m), false));
            } else {
                // forced, or a fatbin the driver refused: JIT-compile the module's own PTX
                mod = new CUmodule();
                check(cuModuleLoadData(mod, kernels.ptx(m, true)), "cuModuleLoadData (" + m + ".ptx, PTX ISA "
                        + kernels.ptxIsa(m) + ": needs a driver of CUDA 11.8 or later)");
                modulePaths.put(m, "PTX JIT (" + m + ".ptx" + (forcePtx ? ", forced by " + KernelPath.FORCE_PTX_ENV
                        + "=1)" : ", the fatbin was refused)"));
            }
            modules.put(m, mod);
        }
        f = new CUfunction();
        check(cuModuleGetFunction(f, mod, kernel), "cuModuleGetFunction");
        functions.put(kernel, f);
        return f;
    }

    CUdeviceptr devptr(DevicePtr p) {
        if (p == null || p.isNull()) {
            return null;
        }
        CUdeviceptr base = allocations.get(p.address() >>> OFFSET_BITS);
        if (base == null) {
            throw new IllegalArgumentException("not a live allocation of this runner: " + p);
        }
        long off = p.address() & OFFSET_MASK;
        return off == 0 ? base : base.withByteOffset(off);
    }

    /** A pointer to a whole host array of the types {@link KernelRunner#byteSize} accepts. */
    private static Pointer host(Object hostArray) {
        if (hostArray instanceof float[] a) {
            return Pointer.to(a);
        } else if (hostArray instanceof double[] a) {
            return Pointer.to(a);
        } else if (hostArray instanceof int[] a) {
            return Pointer.to(a);
        } else if (hostArray instanceof byte[] a) {
            return Pointer.to(a);
        }
        throw new IllegalArgumentException("unsupported host array " + (hostArray == null ? "null" : hostArray.getClass()));
    }

    @Override
    public synchronized DevicePtr alloc(long bytes) {
        current();
        CUdeviceptr p = new CUdeviceptr();
        check(cuMemAlloc(p, Math.max(1, bytes)), "cuMemAlloc");
        long id = ids.incrementAndGet();
        allocations.put(id, p);
        return new DevicePtr(id << OFFSET_BITS, bytes);
    }

    @Override
    public synchronized void free(DevicePtr p) {
        if (p == null || p.isNull() || closed) { // closing freed every allocation
            return;
        }
        current();
        CUdeviceptr base = allocations.remove(p.address() >>> OFFSET_BITS);
        if (base != null) {
            check(cuMemFree(base), "cuMemFree");
        }
    }

    @Override
    public synchronized void toDevice(Object hostArray, DevicePtr dst) {
        current();
        check(cuMemcpyHtoD(devptr(dst), host(hostArray), KernelRunner.byteSize(hostArray)), "cuMemcpyHtoD");
    }

    @Override
    public synchronized void toHost(DevicePtr src, Object hostArray) {
        current();
        check(cuMemcpyDtoH(host(hostArray), devptr(src), KernelRunner.byteSize(hostArray)), "cuMemcpyDtoH");
    }

    @Override
    public synchronized ByteBuffer allocStaging(long bytes) {
        current();
        Pointer p = new Pointer();
        check(cuMemAllocHost(p, bytes), "cuMemAllocHost");
        ByteBuffer b = p.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN);
        pinned.put(b, p);
        return b;
    }

    @Override
    public synchronized void freeStaging(ByteBuffer staging) {
        Pointer p = pinned.remove(staging);
        if (p != null) {
            current();
            check(cuMemFreeHost(p), "cuMemFreeHost");
        }
    }

    @Override
    public synchronized void toDeviceAsync(ByteBuffer staging, long bytes, DevicePtr dst) {
        current();
        Pointer p = pinned.get(staging);
        if (p == null) { // not a buffer of allocStaging: a synchronous copy
            byte[] a = new byte[Math.toIntExact(bytes)];
            staging.duplicate().position(0).get(a);
            toDevice(a, dst);
            return;
        }
        // The copy stream does not wait for the default stream: no queued kernel may still read dst.
        check(cuCtxSynchronize(), "cuCtxSynchronize");
        if (copyStream == null) {
            CUstream s = new CUstream();
            check(cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            copyStream = s;
        }
        check(cuMemcpyHtoDAsync(devptr(dst), p, bytes, copyStream), "cuMemcpyHtoDAsync");
    }

    @Override
    public synchronized void awaitStaged() {
        if (copyStream != null) {
            current();
            check(cuStreamSynchronize(copyStream), "cuStreamSynchronize");
        }
    }

    @Override
    public synchronized void zero(DevicePtr p, long bytes) {
        current();
        check(cuMemsetD8(devptr(p), (byte) 0, bytes), "cuMemsetD8");
    }

    @Override
    public synchronized void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        current();
        CUfunction f = prepare(kernel, sharedBytes);
        check(cuLaunchKernel(f, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, null,
                params(args), null), "cuLaunchKernel");
        if (syncEachLaunch) {
            check(cuCtxSynchronize(), "cuCtxSynchronize");
        }
    }

    /** The kernel's function, loaded, with its dynamic shared memory opted in up to {@code sharedBytes}. */
    CUfunction prepare(String kernel, int sharedBytes) {
        CUfunction f = function(kernel);
        if (sharedBytes > DEFAULT_SHARED && sharedOptIn.getOrDefault(kernel, DEFAULT_SHARED) < sharedBytes) {
            check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    sharedBytes), "cuFuncSetAttribute");
            sharedOptIn.put(kernel, sharedBytes);
        }
        return f;
    }

    /** cuLaunchKernel's kernelParams: a pointer to one pointer per argument, each to the argument's value. */
    Pointer params(Object[] args) {
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a == null || a instanceof DevicePtr p && p.isNull()) {
                params[i] = Pointer.to(new long[]{0});
            } else if (a instanceof DevicePtr p) {
                params[i] = Pointer.to(devptr(p));
            } else if (a instanceof Integer v) {
                params[i] = Pointer.to(new int[]{v});
            } else if (a instanceof Long v) {
                params[i] = Pointer.to(new long[]{v});
            } else if (a instanceof Float v) {
                params[i] = Pointer.to(new float[]{v});
            } else if (a instanceof Double v) {
                params[i] = Pointer.to(new double[]{v});
            } else {
                throw new IllegalArgumentException("unsupported kernel argument " + a.getClass());
            }
        }
        return Pointer.to(params);
    }

    @Override
    public synchronized void synchronize() {
        current();
        check(cuCtxSynchronize(), "cuCtxSynchronize");
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        current();
        cuCtxSynchronize(); // a faulted context reports its error here again; it was reported where it surfaced
        if (copyStream != null) {
            cuStreamSynchronize(copyStream);
            cuStreamDestroy(copyStream);
            copyStream = null;
        }
        for (Pointer p : pinned.values()) {
            cuMemFreeHost(p);
        }
        pinned.clear();
        for (CUdeviceptr p : allocations.values()) {
            cuMemFree(p);
        }
        allocations.clear();
        closed = true;
        check(cuCtxDestroy(context), "cuCtxDestroy");
    }

    /** TF32 tensor cores: compute capability 8.0 (Ampere) and later, through the fatbin's SASS (not the PTX JIT). */
    @Override
    public boolean tf32Capable() {
        return KernelPath.tf32TensorCores(ccMajor, ccMinor, kernels.fatbinContents("conv"), forcePtx);
    }

    /**
     * Not yet: the TF32 kernels are checked on the emulated tensor cores only. Once a lent GPU has passed
     * {@code tools/gpu/device-check.sh tf32} this becomes {@code tf32Capable()}, PyTorch's default; until then a GPU
     * runs fp32 unless {@code --precision tf32} asks for the tensor cores.
     */
    @Override
    public boolean tf32ByDefault() {
        return false;
    }
}
