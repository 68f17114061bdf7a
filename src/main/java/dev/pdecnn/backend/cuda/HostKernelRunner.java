package dev.pdecnn.backend.cuda;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs the kernels on the CPU: a subprocess, the host driver built by {@link HostBuild} from the same
 * sources nvcc compiles, holds the "device" memory and launches kernels with exactly the grid, block and
 * shared-memory sizes it is given (protocol in {@code src/main/cuda/host/driver.cpp}).
 *
 * <p>A kernel fault (an out-of-bounds write caught by the guard bytes, a divergent barrier, an argument of the
 * wrong type) fails the call with a {@link KernelException} carrying the driver's message. A fault that ends
 * the driver process marks this runner dead; later calls fail fast. Each call has a deadline (property
 * {@code pdecnn.host.timeoutSeconds}, default 600 s); past it the driver is killed, so a hung kernel fails
 * its test instead of the build.
 */
public final class HostKernelRunner implements KernelRunner {
    private final Path executable;
    private final Process process;
    private final OutputStream out;
    private final InputStream in;
    private final StringBuilder stderr = new StringBuilder();
    private final Thread drain;
    private final int maxShared;
    private final long timeoutNanos;
    private final Map<String, String> signatures;
    private volatile boolean dead;

    private static final java.util.concurrent.ScheduledExecutorService WATCHDOG =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "pdecnn-host-watchdog");
                t.setDaemon(true);
                return t;
            });

    private HostKernelRunner(Path executable, int maxSharedBytes) throws IOException {
        this.executable = executable;
        this.maxShared = maxSharedBytes;
        this.timeoutNanos = dev.pdecnn.Settings.HOST_TIMEOUT.number(600) * 1_000_000_000L;
        this.process = new ProcessBuilder(executable.toString()).start();
        this.out = new BufferedOutputStream(process.getOutputStream(), 1 << 16);
        this.in = new BufferedInputStream(process.getInputStream(), 1 << 16);
        this.drain = new Thread(() -> {
            try (InputStream err = process.getErrorStream()) {
                byte[] buf = new byte[4096];
                for (int n; (n = err.read(buf)) > 0; ) {
                    synchronized (stderr) {
                        stderr.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                    }
                }
            } catch (IOException ignored) {
                // process gone
            }
        }, "pdecnn-host-stderr");
        this.drain.setDaemon(true);
        this.drain.start();
        this.signatures = listKernels();
    }

    /** Starts a driver with the CUDA default of 48 KiB of dynamic shared memory per block. */
    public static HostKernelRunner start(Path executable) {
        return start(executable, 48 * 1024);
    }

    /** Starts a driver that accepts up to {@code maxSharedBytes} per block (at most 227 KiB, an H100's opt-in). */
    public static HostKernelRunner start(Path executable, int maxSharedBytes) {
        try {
            return new HostKernelRunner(executable, maxSharedBytes);
        } catch (IOException e) {
            throw new KernelException("cannot start the host driver " + executable + ": " + e.getMessage(), e);
        }
    }

    /** A runner sharing this one's executable with another shared-memory limit (a new driver process). */
    public HostKernelRunner withMaxShared(int maxSharedBytes) {
        return start(executable, maxSharedBytes);
    }

    @Override
    public String description() {
        return "host emulation (" + executable + ")";
    }

    @Override
    public int maxSharedBytesPerBlock() {
        return maxShared;
    }

    public boolean isAlive() {
        return !dead && process.isAlive();
    }

    /** The registered kernels and their parameter tags (P pointer, I int, J long, F float, D double). */
    public Map<String, String> kernels() {
        return signatures;
    }

    // ------------------------------------------------------------------------------------------- protocol

    private synchronized Map<String, String> listKernels() {
        return call(() -> {
            out.write('K');
            out.flush();
            expectOk();
            ByteBuffer b = readBuf(4);
            int n = b.getInt();
            Map<String, String> m = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                String name = readString();
                String sig = readString();
                m.put(name, sig);
            }
            return m;
        }, "listing kernels");
    }

    @Override
    public synchronized DevicePtr alloc(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("negative allocation " + bytes);
        }
        return call(() -> {
            out.write(le(9).put((byte) 'A').putLong(bytes).array());
            out.flush();
            expectOk();
            return new DevicePtr(readBuf(8).getLong(), bytes);
        }, "alloc " + bytes);
    }

    @Override
    public synchronized void free(DevicePtr p) {
        if (p == null || p.isNull()) {
            return;
        }
        call(() -> {
            out.write(le(9).put((byte) 'F').putLong(p.address()).array());
            out.flush();
            expectOk();
            return null;
        }, "free");
    }

    @Override
    public synchronized void toDevice(Object hostArray, DevicePtr dst) {
        long n = KernelRunner.byteSize(hostArray);
        checkRange(dst, n);
        call(() -> {
            out.write(le(17).put((byte) 'W').putLong(dst.address()).putLong(n).array());
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(n, 1 << 20)).order(ByteOrder.LITTLE_ENDIAN);
            writeArray(hostArray, b);
            out.flush();
            expectOk();
            return null;
        }, "copy to device");
    }

    @Override
    public synchronized void toHost(DevicePtr src, Object hostArray) {
        long n = KernelRunner.byteSize(hostArray);
        checkRange(src, n);
        call(() -> {
            out.write(le(17).put((byte) 'R').putLong(src.address()).putLong(n).array());
            out.flush();
            expectOk();
            readArray(hostArray);
            return null;
        }, "copy to host");
    }

    @Override
    public ByteBuffer allocStaging(long bytes) {
        return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public void freeStaging(ByteBuffer staging) {
        // a direct buffer: the collector frees it
    }

    /** Synchronous on the emulation: the copy has landed when this returns. */
    @Override
    public synchronized void toDeviceAsync(ByteBuffer staging, long bytes, DevicePtr dst) {
        byte[] a = new byte[Math.toIntExact(bytes)];
        staging.duplicate().position(0).get(a);
        toDevice(a, dst);
    }

    @Override
    public void awaitStaged() {
        // every copy is synchronous here
    }

    @Override
    public synchronized void zero(DevicePtr p, long bytes) {
        checkRange(p, bytes);
        call(() -> {
            out.write(le(17).put((byte) 'Z').putLong(p.address()).putLong(bytes).array());
            out.flush();
            expectOk();
            return null;
        }, "zero");
    }

    @Override
    public synchronized void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        String sig = signatures.get(kernel);
        if (sig == null) {
            throw new KernelException("the host build has no kernel named " + kernel);
        }
        if (sharedBytes > maxShared) {
            throw new KernelException(kernel + " asks for " + sharedBytes + " bytes of shared memory, more than the "
                    + maxShared + " this runner allows");
        }
        byte[] name = kernel.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = le(1 + 2 + name.length + 7 * 4 + 4 + 9 * args.length);
        b.put((byte) 'L').putShort((short) name.length).put(name);
        b.putInt(grid.x()).putInt(grid.y()).putInt(grid.z()).putInt(block.x()).putInt(block.y()).putInt(block.z());
        b.putInt(sharedBytes).putInt(args.length);
        for (Object a : args) {
            if (a == null) {
                b.put((byte) 'P').putLong(0);
            } else if (a instanceof DevicePtr p) {
                b.put((byte) 'P').putLong(p.address());
            } else if (a instanceof Integer i) {
                b.put((byte) 'I').putLong(i & 0xffffffffL);
            } else if (a instanceof Long l) {
                b.put((byte) 'J').putLong(l);
            } else if (a instanceof Float f) {
                b.put((byte) 'F').putLong(Float.floatToRawIntBits(f) & 0xffffffffL);
            } else if (a instanceof Double d) {
                b.put((byte) 'D').putLong(Double.doubleToRawLongBits(d));
            } else {
                throw new IllegalArgumentException("unsupported kernel argument " + a.getClass());
            }
        }
        call(() -> {
            out.write(b.array());
            out.flush();
            expectOk();
            readBuf(8);
            return null;
        }, "launch " + kernel + " grid " + grid + " block " + block);
    }

    @Override
    public synchronized void close() {
        if (process.isAlive()) {
            try {
                out.write('Q');
                out.flush();
                out.close();
            } catch (IOException ignored) {
                // already gone
            }
            try {
                if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        dead = true;
    }

    // ------------------------------------------------------------------------------------------- plumbing

    private interface Io<T> {
        T run() throws IOException;
    }

    private <T> T call(Io<T> body, String what) {
        if (dead) {
            throw new KernelException("host driver is no longer running (an earlier fault ended it): " + what);
        }
        java.util.concurrent.ScheduledFuture<?> watchdog = WATCHDOG.schedule(process::destroyForcibly, timeoutNanos,
                java.util.concurrent.TimeUnit.NANOSECONDS);
        try {
            return body.run();
        } catch (IOException e) {
            dead = true;
            // read the driver's last words before destroying it: Process.destroy closes its stderr stream
            String message = driverMessage();
            process.destroyForcibly();
            throw new KernelException("host driver died during " + what + ": " + message, e);
        } finally {
            watchdog.cancel(false);
        }
    }

    private String driverMessage() {
        try {
            // the driver exits after reporting a fault; its stderr then reaches EOF and the drain thread ends
            if (process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                drain.join(5000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (stderr) {
            String s = stderr.toString().strip();
            return s.isEmpty() ? "(no message; exit " + (process.isAlive() ? "?" : process.exitValue()) + ")" : s;
        }
    }

    private void expectOk() throws IOException {
        int status = in.read();
        if (status < 0) {
            throw new EOFException("driver closed its output");
        }
        if (status != 0) {
            int len = readBuf(4).getInt();
            byte[] msg = in.readNBytes(len);
            throw new KernelException(new String(msg, StandardCharsets.UTF_8));
        }
    }

    private ByteBuffer readBuf(int n) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new EOFException("driver closed its output");
        }
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private String readString() throws IOException {
        int len = readBuf(2).getShort() & 0xffff;
        return new String(in.readNBytes(len), StandardCharsets.UTF_8);
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void checkRange(DevicePtr p, long n) {
        if (p == null || p.isNull()) {
            throw new IllegalArgumentException("copy to or from a null device pointer");
        }
        if (n > p.bytes()) {
            throw new IllegalArgumentException("copy of " + n + " bytes into a " + p.bytes() + "-byte device buffer");
        }
    }

    private void writeArray(Object a, ByteBuffer b) throws IOException {
        if (a instanceof byte[] bytes) {
            out.write(bytes);
            return;
        }
        int n = a instanceof float[] f ? f.length : a instanceof double[] d ? d.length : ((int[]) a).length;
        int width = a instanceof double[] ? 8 : 4;
        int per = b.capacity() / width;
        for (int lo = 0; lo < n; lo += per) {
            int hi = Math.min(n, lo + per);
            b.clear();
            if (a instanceof float[] f) {
                b.asFloatBuffer().put(f, lo, hi - lo);
            } else if (a instanceof double[] d) {
                b.asDoubleBuffer().put(d, lo, hi - lo);
            } else {
                b.asIntBuffer().put((int[]) a, lo, hi - lo);
            }
            out.write(b.array(), 0, (hi - lo) * width);
        }
    }

    private void readArray(Object a) throws IOException {
        if (a instanceof byte[] bytes) {
            if (in.readNBytes(bytes, 0, bytes.length) != bytes.length) {
                throw new EOFException("driver closed its output");
            }
            return;
        }
        int n = a instanceof float[] f ? f.length : a instanceof double[] d ? d.length : ((int[]) a).length;
        int width = a instanceof double[] ? 8 : 4;
        int per = (1 << 20) / width;
        byte[] chunk = new byte[Math.min(n, per) * width];
        for (int lo = 0; lo < n; lo += per) {
            int hi = Math.min(n, lo + per);
            int len = (hi - lo) * width;
            if (in.readNBytes(chunk, 0, len) != len) {
                throw new EOFException("driver closed its output");
            }
            ByteBuffer b = ByteBuffer.wrap(chunk, 0, len).order(ByteOrder.LITTLE_ENDIAN);
            if (a instanceof float[] f) {
                b.asFloatBuffer().get(f, lo, hi - lo);
            } else if (a instanceof double[] d) {
                b.asDoubleBuffer().get(d, lo, hi - lo);
            } else {
                b.asIntBuffer().get((int[]) a, lo, hi - lo);
            }
        }
    }

    /** The host build emulates the WMMA fragments (host/wmma_host.h), so {@code --precision tf32} runs here. */
    @Override
    public boolean tf32Capable() {
        return true;
    }
}
