package dev.pdecnn.backend.cuda;

import java.lang.reflect.Array;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs the committed kernels on an NVIDIA GPU through JCuda's driver API ({@code org.jcuda:jcuda:11.7.0},
 * which needs only the driver's libcuda.so.1, SPEC §5). JCuda is reached by reflection, so this class
 * compiles and the build works without JCuda on the classpath; {@link #open(int)} then reports why there is
 * no device instead of failing.
 *
 * <p>Modules: each source's fatbin (SASS for sm_80 and sm_90) is loaded when the driver accepts it, otherwise
 * its PTX (compute_75: Turing, e.g. a T4, and later), which the driver JIT-compiles for the GPU at hand.
 * Launches above 48 KiB of dynamic shared memory opt in per kernel (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
 * up to the device's opt-in limit, which {@link #maxSharedBytesPerBlock()} reports.
 *
 * <p>Device pointers are handed out as {@link DevicePtr}s whose address is a handle (allocation id in the
 * high bits, byte offset in the low 40), mapped back to JCuda's {@code CUdeviceptr} on use.
 *
 * <p>Staged uploads ({@link #toDeviceAsync}): page-locked host buffers from cuMemAllocHost, copied with
 * cuMemcpyHtoDAsync on one extra stream created CU_STREAM_NON_BLOCKING (so it does not serialise with the
 * legacy default stream the kernels run on), waited for with cuStreamSynchronize. The calls are resolved on
 * first use; if this JCuda lacks one of them, staging buffers are plain direct buffers and the copy is
 * synchronous, as on the emulation.
 *
 * <p>Launches are asynchronous: kernels, memsets and copies all go to the legacy default stream, so they run in
 * issue order, and a copy to the host waits for the kernels before it; the host does not wait per launch. A
 * kernel fault then surfaces at the next call that waits (usually the step's loss download) and names that call,
 * not the kernel. {@code PDECNN_CUDA_SYNC=1} (or {@code -Dpdecnn.cuda.sync=true}) synchronises after every launch,
 * so a failure names its kernel and shapes: use it to find a faulting kernel.
 */
public final class JCudaKernelRunner implements KernelRunner {
    private static final int ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76, ATTR_SHARED_OPTIN = 97;
    private static final int FUNC_ATTR_MAX_DYNAMIC_SHARED = 8;
    private static final long OFFSET_BITS = 40, OFFSET_MASK = (1L << OFFSET_BITS) - 1;

    private final Api api;
    private final int ordinal;
    private final Object context;
    private final String name;
    private final int maxShared;
    private final Map<String, Object> functions = new HashMap<>();
    private final Map<String, String> kernelModule;
    private final Map<String, Object> modules = new HashMap<>();
    private final Map<Long, Object> allocations = new HashMap<>();
    private final Map<String, Integer> sharedOptIn = new HashMap<>();
    private final AtomicLong ids = new AtomicLong();
    /** Staging: the driver calls (null until first use, or when unavailable), the copy stream, buffer -> Pointer. */
    private StagingApi stagingApi;
    private boolean stagingResolved;
    private Object copyStream;
    private final Map<ByteBuffer, Object> pinned = new IdentityHashMap<>();
    private final KernelModules kernels = KernelModules.load();
    private final boolean syncEachLaunch = syncEachLaunch();

    /** Whether every launch is followed by a context synchronisation (see the class comment). */
    static boolean syncEachLaunch() {
        String env = System.getenv("PDECNN_CUDA_SYNC");
        return Boolean.getBoolean("pdecnn.cuda.sync")
                || env != null && !env.isEmpty() && !env.equals("0") && !env.equalsIgnoreCase("false");
    }

    /** The JCuda classes and methods this runner uses, resolved once ({@link #api()}). */
    static final class Api {
        final Class<?> driver, device, ctx, module, function, devptr, pointer, npo, stream;
        final Method init, deviceGet, deviceGetCount, deviceGetName, deviceGetAttribute, ctxCreate, ctxDestroy,
                ctxSetCurrent, ctxSynchronize, moduleLoadData, moduleGetFunction, memAlloc, memFree, htod, dtoh, memset,
                funcSetAttribute, launch, withByteOffset, toNpo, deviceTotalMem, driverGetVersion, memGetInfo;
        final Map<Class<?>, Method> toArray = new HashMap<>();

        Api() throws ReflectiveOperationException {
            driver = Class.forName("jcuda.driver.JCudaDriver");
            device = Class.forName("jcuda.driver.CUdevice");
            ctx = Class.forName("jcuda.driver.CUcontext");
            module = Class.forName("jcuda.driver.CUmodule");
            function = Class.forName("jcuda.driver.CUfunction");
            devptr = Class.forName("jcuda.driver.CUdeviceptr");
            stream = Class.forName("jcuda.driver.CUstream");
            pointer = Class.forName("jcuda.Pointer");
            npo = Class.forName("jcuda.NativePointerObject");
            driver.getMethod("setExceptionsEnabled", boolean.class).invoke(null, true);
            init = driver.getMethod("cuInit", int.class);
            deviceGet = driver.getMethod("cuDeviceGet", device, int.class);
            deviceGetCount = driver.getMethod("cuDeviceGetCount", int[].class);
            deviceGetName = driver.getMethod("cuDeviceGetName", byte[].class, int.class, device);
            deviceGetAttribute = driver.getMethod("cuDeviceGetAttribute", int[].class, int.class, device);
            ctxCreate = driver.getMethod("cuCtxCreate", ctx, int.class, device);
            ctxDestroy = driver.getMethod("cuCtxDestroy", ctx);
            ctxSetCurrent = driver.getMethod("cuCtxSetCurrent", ctx);
            ctxSynchronize = driver.getMethod("cuCtxSynchronize");
            moduleLoadData = driver.getMethod("cuModuleLoadData", module, byte[].class);
            moduleGetFunction = driver.getMethod("cuModuleGetFunction", function, module, String.class);
            memAlloc = driver.getMethod("cuMemAlloc", devptr, long.class);
            memFree = driver.getMethod("cuMemFree", devptr);
            htod = driver.getMethod("cuMemcpyHtoD", devptr, pointer, long.class);
            dtoh = driver.getMethod("cuMemcpyDtoH", pointer, devptr, long.class);
            memset = driver.getMethod("cuMemsetD8", devptr, byte.class, long.class);
            funcSetAttribute = driver.getMethod("cuFuncSetAttribute", function, int.class, int.class);
            launch = driver.getMethod("cuLaunchKernel", function, int.class, int.class, int.class, int.class, int.class,
                    int.class, int.class, stream, pointer, pointer);
            withByteOffset = devptr.getMethod("withByteOffset", long.class);
            toNpo = pointer.getMethod("to", npo.arrayType());
            deviceTotalMem = driver.getMethod("cuDeviceTotalMem", long[].class, device);
            driverGetVersion = driver.getMethod("cuDriverGetVersion", int[].class);
            memGetInfo = driver.getMethod("cuMemGetInfo", long[].class, long[].class);
            for (Class<?> a : new Class<?>[]{byte[].class, int[].class, float[].class, long[].class, double[].class}) {
                toArray.put(a, pointer.getMethod("to", a));
            }
        }

        Object call(Method m, Object target, Object... args) {
            try {
                return m.invoke(target, args);
            } catch (InvocationTargetException e) {
                Throwable c = e.getCause();
                throw new KernelException("CUDA " + m.getName() + ": " + c.getMessage(), c);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }

        Object newInstance(Class<?> c) {
            try {
                return c.getConstructor().newInstance();
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }

        Object to(Object hostArray) {
            return call(toArray.get(hostArray.getClass()), null, hostArray);
        }

        Object toPointers(Object... nativeObjects) {
            Object arr = Array.newInstance(npo, nativeObjects.length);
            for (int i = 0; i < nativeObjects.length; i++) {
                Array.set(arr, i, nativeObjects[i]);
            }
            return call(toNpo, null, arr);
        }
    }

    /** The calls of staged uploads, kept apart from {@link Api} so that a JCuda without them still opens. */
    static final class StagingApi {
        static final int CU_STREAM_NON_BLOCKING = 1;
        final Method memAllocHost, memFreeHost, getByteBuffer, streamCreate, streamDestroy, streamSynchronize, htodAsync;

        StagingApi(Api a) throws ReflectiveOperationException {
            memAllocHost = a.driver.getMethod("cuMemAllocHost", a.pointer, long.class);
            memFreeHost = a.driver.getMethod("cuMemFreeHost", a.pointer);
            getByteBuffer = a.pointer.getMethod("getByteBuffer", long.class, long.class);
            streamCreate = a.driver.getMethod("cuStreamCreate", a.stream, int.class);
            streamDestroy = a.driver.getMethod("cuStreamDestroy", a.stream);
            streamSynchronize = a.driver.getMethod("cuStreamSynchronize", a.stream);
            htodAsync = a.driver.getMethod("cuMemcpyHtoDAsync", a.devptr, a.pointer, long.class, a.stream);
        }
    }

    private static Api sharedApi;
    private static String apiFailure;

    /**
     * JCuda's driver API with its native library loaded, or a {@link KernelException} saying why not. The outcome
     * is kept: a native library that failed to load cannot be retried in the same JVM (the class stays
     * uninitialised), so the first reason is the one to report.
     */
    static synchronized Api api() {
        if (sharedApi == null && apiFailure == null) {
            try {
                sharedApi = new Api();
            } catch (ClassNotFoundException | NoSuchMethodException e) {
                apiFailure = "JCuda " + Gpus.JCUDA_VERSION + " (org.jcuda:jcuda and its linux-x86_64 natives) is not on "
                        + "the classpath";
            } catch (LinkageError e) {
                apiFailure = driverLoadFailure(e);
            } catch (java.lang.reflect.InvocationTargetException e) {
                apiFailure = driverLoadFailure(e.getCause());
            } catch (ReflectiveOperationException e) {
                apiFailure = "JCuda unusable: " + e;
            }
        }
        if (sharedApi == null) {
            throw new KernelException(apiFailure);
        }
        return sharedApi;
    }

    private static String driverLoadFailure(Throwable e) {
        String why = Gpus.nativeReason(e);
        return why.contains("libcuda.so")
                ? "no NVIDIA driver: " + why
                : "JCuda's native driver library did not load: " + why;
    }

    /** Whether a GPU can be used: null when it can, otherwise the reason (JCuda missing, no driver, no device). */
    public static String unavailableReason() {
        Gpus.Probe p = Gpus.probe();
        if (p.reason() != null) {
            return p.reason();
        }
        return p.gpus().isEmpty() ? "the CUDA driver reports no GPU" : null;
    }

    private JCudaKernelRunner(int ordinal) {
        api = api();
        api.call(api.init, null, 0);
        this.ordinal = ordinal;
        Object dev = api.newInstance(api.device);
        api.call(api.deviceGet, null, dev, ordinal);
        context = api.newInstance(api.ctx);
        api.call(api.ctxCreate, null, context, 0, dev);
        byte[] nameBuf = new byte[256];
        api.call(api.deviceGetName, null, nameBuf, nameBuf.length, dev);
        int len = 0;
        while (len < nameBuf.length && nameBuf[len] != 0) {
            len++;
        }
        int[] v = new int[1];
        api.call(api.deviceGetAttribute, null, v, ATTR_CC_MAJOR, dev);
        int major = v[0];
        api.call(api.deviceGetAttribute, null, v, ATTR_CC_MINOR, dev);
        int minor = v[0];
        api.call(api.deviceGetAttribute, null, v, ATTR_SHARED_OPTIN, dev);
        maxShared = v[0];
        name = "GPU " + ordinal + ": " + new String(nameBuf, 0, len, StandardCharsets.UTF_8) + " (sm_" + major + minor + ")";
        kernelModule = kernels.kernels();
    }

    /**
     * Opens GPU {@code ordinal} (a context on it; modules load on first use). Throws {@link KernelException}
     * saying why when it cannot: JCuda missing, no driver, or no GPU of that number (the message lists the GPUs).
     */
    public static JCudaKernelRunner open(int ordinal) {
        Gpus.Probe p = Gpus.probe();
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
        api.call(api.memGetInfo, null, free, total);
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
    private void current() {
        if (closed) {
            throw new KernelException(name + ": this GPU runner is closed");
        }
        api.call(api.ctxSetCurrent, null, context);
    }

    /** Set by {@link #close()}: the context is destroyed. */
    private boolean closed;

    private Object function(String kernel) {
        Object f = functions.get(kernel);
        if (f != null) {
            return f;
        }
        String m = kernelModule.get(kernel);
        if (m == null) {
            throw new KernelException("no kernel named " + kernel + " in the committed PTX");
        }
        Object mod = modules.get(m);
        if (mod == null) {
            mod = api.newInstance(api.module);
            try {
                api.call(api.moduleLoadData, null, mod, kernels.fatbin(m));
            } catch (KernelException noSass) { // e.g. a GPU newer than sm_90: JIT-compile the PTX
                mod = api.newInstance(api.module);
                api.call(api.moduleLoadData, null, mod, kernels.ptx(m, true));
            }
            modules.put(m, mod);
        }
        f = api.newInstance(api.function);
        api.call(api.moduleGetFunction, null, f, mod, kernel);
        functions.put(kernel, f);
        return f;
    }

    private Object devptr(DevicePtr p) {
        if (p == null || p.isNull()) {
            return null;
        }
        Object base = allocations.get(p.address() >>> OFFSET_BITS);
        if (base == null) {
            throw new IllegalArgumentException("not a live allocation of this runner: " + p);
        }
        long off = p.address() & OFFSET_MASK;
        return off == 0 ? base : api.call(api.withByteOffset, base, off);
    }

    @Override
    public synchronized DevicePtr alloc(long bytes) {
        current();
        Object p = api.newInstance(api.devptr);
        api.call(api.memAlloc, null, p, Math.max(1, bytes));
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
        Object base = allocations.remove(p.address() >>> OFFSET_BITS);
        if (base != null) {
            api.call(api.memFree, null, base);
        }
    }

    @Override
    public synchronized void toDevice(Object hostArray, DevicePtr dst) {
        current();
        api.call(api.htod, null, devptr(dst), api.to(hostArray), KernelRunner.byteSize(hostArray));
    }

    @Override
    public synchronized void toHost(DevicePtr src, Object hostArray) {
        current();
        api.call(api.dtoh, null, api.to(hostArray), devptr(src), KernelRunner.byteSize(hostArray));
    }

    private StagingApi staging() {
        if (!stagingResolved) {
            stagingResolved = true;
            try {
                stagingApi = new StagingApi(api);
            } catch (ReflectiveOperationException e) {
                stagingApi = null; // synchronous copies from direct buffers instead
            }
        }
        return stagingApi;
    }

    @Override
    public synchronized ByteBuffer allocStaging(long bytes) {
        StagingApi s = staging();
        if (s == null) {
            return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        }
        current();
        Object p = api.newInstance(api.pointer);
        api.call(s.memAllocHost, null, p, bytes);
        ByteBuffer b = ((ByteBuffer) api.call(s.getByteBuffer, p, 0L, bytes)).order(ByteOrder.LITTLE_ENDIAN);
        pinned.put(b, p);
        return b;
    }

    @Override
    public synchronized void freeStaging(ByteBuffer staging) {
        Object p = pinned.remove(staging);
        if (p != null) {
            current();
            api.call(stagingApi.memFreeHost, null, p);
        }
    }

    @Override
    public synchronized void toDeviceAsync(ByteBuffer staging, long bytes, DevicePtr dst) {
        current();
        Object p = pinned.get(staging);
        if (p == null) { // not page-locked (no staging calls in this JCuda): a synchronous copy
            byte[] a = new byte[Math.toIntExact(bytes)];
            staging.duplicate().position(0).get(a);
            toDevice(a, dst);
            return;
        }
        // The copy stream does not wait for the default stream: no queued kernel may still read dst.
        api.call(api.ctxSynchronize, null);
        if (copyStream == null) {
            Object s = api.newInstance(api.stream);
            api.call(stagingApi.streamCreate, null, s, StagingApi.CU_STREAM_NON_BLOCKING);
            copyStream = s;
        }
        api.call(stagingApi.htodAsync, null, devptr(dst), p, bytes, copyStream);
    }

    @Override
    public synchronized void awaitStaged() {
        if (copyStream != null) {
            current();
            api.call(stagingApi.streamSynchronize, null, copyStream);
        }
    }

    @Override
    public synchronized void zero(DevicePtr p, long bytes) {
        current();
        api.call(api.memset, null, devptr(p), (byte) 0, bytes);
    }

    @Override
    public synchronized void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        current();
        Object f = function(kernel);
        if (sharedBytes > 48 * 1024 && sharedOptIn.getOrDefault(kernel, 48 * 1024) < sharedBytes) {
            api.call(api.funcSetAttribute, null, f, FUNC_ATTR_MAX_DYNAMIC_SHARED, sharedBytes);
            sharedOptIn.put(kernel, sharedBytes);
        }
        Object[] params = new Object[args.length];
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a == null || a instanceof DevicePtr p && p.isNull()) {
                params[i] = api.to(new long[]{0});
            } else if (a instanceof DevicePtr p) {
                params[i] = api.toPointers(devptr(p));
            } else if (a instanceof Integer v) {
                params[i] = api.to(new int[]{v});
            } else if (a instanceof Long v) {
                params[i] = api.to(new long[]{v});
            } else if (a instanceof Float v) {
                params[i] = api.to(new float[]{v});
            } else if (a instanceof Double v) {
                params[i] = api.to(new double[]{v});
            } else {
                throw new IllegalArgumentException("unsupported kernel argument " + a.getClass());
            }
        }
        api.call(api.launch, null, f, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, null,
                api.toPointers(params), null);
        if (syncEachLaunch) {
            api.call(api.ctxSynchronize, null);
        }
    }

    @Override
    public synchronized void synchronize() {
        current();
        api.call(api.ctxSynchronize, null);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        current();
        try {
            api.call(api.ctxSynchronize, null);
        } catch (KernelException afterFault) {
            // a faulted context: its error was reported where it surfaced; free what can be freed
        }
        if (copyStream != null) {
            api.call(stagingApi.streamSynchronize, null, copyStream);
            api.call(stagingApi.streamDestroy, null, copyStream);
            copyStream = null;
        }
        for (Object p : pinned.values()) {
            api.call(stagingApi.memFreeHost, null, p);
        }
        pinned.clear();
        for (Object p : allocations.values()) {
            api.call(api.memFree, null, p);
        }
        allocations.clear();
        closed = true;
        api.call(api.ctxDestroy, null, context);
    }
}
