package dev.pdecnn.bench;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.tensor.Tensor;

import java.io.PrintStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Per-operation wall-time profile of a backend (setting {@code pdecnn.bench.profile=true}): every backend
 * call and the loss its device computes are timed, convolutions per shape, and {@link Bench} prints the totals per
 * timed step to stderr after each benchmark: wall time seen by the calling thread and the CPU time of all threads
 * (the useful number on a machine shared with other jobs, where the wall time includes waits for a core).
 */
final class Profile {
    private static final Map<String, long[]> TOTALS = new TreeMap<>();

    private Profile() {
    }

    /**
     * A GPU backend queues its launches, so each call is followed by a synchronisation: the time is then the
     * operation's kernels plus one launch-and-wait round trip (tens of microseconds), not the enqueueing alone.
     * The backend's device is wrapped too ({@link #wrap(Device)}): a training step takes its loss from the device,
     * so that the loss can be read after a recorded step has run.
     */
    static Backend wrap(Backend be) {
        Device device = be.device();
        Device timed = wrap(device);
        InvocationHandler h = (proxy, m, args) -> {
            if (m.getName().equals("device") && m.getParameterCount() == 0) {
                return timed;
            }
            return timed(m.getName(), args, device, be instanceof CpuBackend, () -> m.invoke(be, args));
        };
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, h);
    }

    /**
     * {@code device} with its one operation timed: the loss ({@code softmaxCrossEntropyLater}, listed as the
     * backend's {@code softmaxCrossEntropy}). Steps, reads, prefetches and the rest pass through untimed: a step
     * holds the operations that are timed one by one.
     */
    private static Device wrap(Device device) {
        InvocationHandler h = (proxy, m, args) -> m.getName().equals("softmaxCrossEntropyLater")
                ? timed("softmaxCrossEntropy", args, device, false, () -> m.invoke(device, args))
                : call(() -> m.invoke(device, args));
        return (Device) Proxy.newProxyInstance(Device.class.getClassLoader(), new Class<?>[] {Device.class}, h);
    }

    /** A reflective call. */
    private interface Call {
        Object run() throws IllegalAccessException, InvocationTargetException;
    }

    private static Object call(Call c) throws Throwable {
        try {
            return c.run();
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /**
     * Runs {@code c}, synchronises {@code sync} and adds the time to the totals of {@code name} (with its shapes,
     * and for the CPU backend's convolutions the path that ran them: onednn or builtin).
     */
    private static Object timed(String name, Object[] args, Device sync, boolean cpuPaths, Call c) throws Throwable {
        long t0 = System.nanoTime(), c0 = cpuNanos();
        try {
            return call(c);
        } finally {
            sync.synchronize();
            long dt = System.nanoTime() - t0, dc = cpuNanos() - c0;
            String key = name;
            if (key.startsWith("conv2d")) {
                Tensor x = (Tensor) args[0], w = (Tensor) args[1];
                ConvSpec s = (ConvSpec) args[args.length - 1];
                key += String.format(Locale.ROOT, " %dx%dx%d w%dx%dx%dx%d s%d g%d", x.dim(1), x.dim(2), x.dim(3),
                        w.dim(0), w.dim(1), w.dim(2), w.dim(3), s.stride(), s.groups());
                if (cpuPaths) {
                    key += " " + CpuBackend.convPath(x, w, s);
                }
            }
            synchronized (TOTALS) {
                long[] a = TOTALS.computeIfAbsent(key, k -> new long[3]);
                a[0] += dt;
                a[1]++;
                a[2] += dc;
            }
        }
    }

    private static final java.lang.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean();

    /** CPU time of all live threads (the backend's worker threads included). */
    private static long cpuNanos() {
        long sum = 0;
        for (long id : THREADS.getAllThreadIds()) {
            long t = THREADS.getThreadCpuTime(id);
            if (t > 0) {
                sum += t;
            }
        }
        return sum;
    }

    static void reset() {
        synchronized (TOTALS) {
            TOTALS.clear();
        }
    }

    static void print(String name, int reps) {
        print(name, reps, System.err);
    }

    /** The totals since {@link #reset}, per step of {@code reps}, slowest first, to {@code err}. */
    static void print(String name, int reps, PrintStream err) {
        synchronized (TOTALS) {
            if (TOTALS.isEmpty()) {
                return;
            }
            List<Map.Entry<String, long[]>> es = new ArrayList<>(TOTALS.entrySet());
            es.sort((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]));
            double total = 0, totalCpu = 0;
            for (Map.Entry<String, long[]> e : es) {
                total += e.getValue()[0];
                totalCpu += e.getValue()[2];
            }
            err.printf(Locale.ROOT, "profile of %s (per step: wall ms, CPU ms of all threads, calls):%n", name);
            for (Map.Entry<String, long[]> e : es) {
                err.printf(Locale.ROOT, "  %8.2f %8.2f  %5.1f  %s%n", e.getValue()[0] / 1e6 / reps,
                        e.getValue()[2] / 1e6 / reps, e.getValue()[1] / (double) reps, e.getKey());
            }
            err.printf(Locale.ROOT, "  %8.2f %8.2f         total in the backend%n", total / 1e6 / reps,
                    totalCpu / 1e6 / reps);
        }
    }
}
