package dev.pdecnn.bench;

import dev.pdecnn.backend.Backend;
import dev.pdecnn.backend.ConvSpec;
import dev.pdecnn.backend.cpu.CpuBackend;
import dev.pdecnn.backend.cpu.OneDnn;
import dev.pdecnn.backend.cpu.Parallel;
import dev.pdecnn.models.Models;
import dev.pdecnn.tensor.Tensor;

import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code bench --convs}: every convolution shape of the named models, timed on the CPU backend's two paths, the
 * built-in kernels and oneDNN, forward and backward (input and weight gradients) at the given batch size. It is
 * how the per-shape rule of {@code backend.cpu.ConvPath} was measured and how it can be checked on another
 * machine: the last column says which path {@code pdecnn.cpu.conv=auto} takes.
 */
public final class ConvBench {
    private ConvBench() {
    }

    /** One convolution shape (input channels, plane, weights, stride, padding, groups) and its calls per step. */
    private record Shape(int c, int h, int w, int co, int cg, int kh, int kw, ConvSpec spec) {
        String label() {
            return String.format(Locale.ROOT, "%dx%dx%d w%dx%dx%dx%d s%d g%d", c, h, w, co, cg, kh, kw, spec.stride(),
                    spec.groups());
        }
    }

    public static int run(List<String> models, int batch, int warmup, int reps, PrintStream out) {
        Map<Shape, Integer> shapes = collect(models.isEmpty() ? List.of("all") : models);
        out.printf(Locale.ROOT, "float32 convolutions at batch %d, %d threads, warm-up %d, timed %d; median ms of "
                + "forward + backward (input and weight gradients); %s%n%n", batch,
                Parallel.threads(), warmup, reps, CpuBackend.describeConvolutions());
        out.println("| convolution | uses in the models | built-in ms | oneDNN ms | oneDNN speed-up | auto takes |");
        out.println("|---|---:|---:|---:|---:|---|");
        Backend be = new CpuBackend();
        String before = OneDnn.mode();
        try {
            // first every shape on both paths untimed: the built-in kernels are Java, and the JIT compiles a
            // kernel for good only after some hundred calls, whichever shape made them
            for (Shape s : shapes.keySet()) {
                time(be, s, batch, warmup, 0, "builtin");
                time(be, s, batch, warmup, 0, "onednn");
            }
            for (Map.Entry<Shape, Integer> e : shapes.entrySet()) {
                Shape s = e.getKey();
                double builtin = time(be, s, batch, warmup, reps, "builtin");
                double onednn = time(be, s, batch, warmup, reps, "onednn");
                OneDnn.setMode("auto");
                String auto = CpuBackend.convPath(be.zeros(1, s.c(), s.h(), s.w()), be.zeros(s.co(), s.cg(), s.kh(),
                        s.kw()), s.spec());
                out.printf(Locale.ROOT, "| %s | %d | %.2f | %s | %s | %s |%n", s.label(), e.getValue(), builtin,
                        Double.isNaN(onednn) ? "-" : String.format(Locale.ROOT, "%.2f", onednn),
                        Double.isNaN(onednn) ? "-" : String.format(Locale.ROOT, "%.2fx", builtin / onednn), auto);
            }
        } finally {
            OneDnn.setMode(before);
        }
        return 0;
    }

    /** The convolutions one forward pass of each model makes, by shape, with their counts per step. */
    private static Map<Shape, Integer> collect(List<String> models) {
        Map<Shape, Integer> shapes = new LinkedHashMap<>();
        for (String name : Bench.expand(models)) {
            if (!name.equals("global")) {
                collect(name, shapes);
            }
        }
        return shapes;
    }

    private static void collect(String name, Map<Shape, Integer> into) {
        Backend be = new CpuBackend();
        Backend recording = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, m, args) -> {
                    if (m.getName().equals("conv2dForward")) {
                        Tensor x = (Tensor) args[0], w = (Tensor) args[1];
                        Shape s = new Shape(x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(1), w.dim(2), w.dim(3),
                                (ConvSpec) args[3]);
                        into.merge(s, 1, Integer::sum);
                    }
                    try {
                        return m.invoke(be, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        var net = Models.build(Bench.config(name), recording);
        net.train(true);
        int[] chw = net.inputChw;
        try (var step = recording.arena().open()) {
            net.forward(recording.zeros(2, chw[0], chw[1], chw[2]));
        }
    }

    /** Median ms of forward + backward of one shape on one path; NaN when oneDNN is not available. */
    private static double time(Backend be, Shape s, int batch, int warmup, int reps, String mode) {
        OneDnn.setMode(mode);
        SplittableRandom r = new SplittableRandom(3);
        Tensor x = Bench.random(be, r, batch, s.c(), s.h(), s.w()), w = Bench.random(be, r, s.co(), s.cg(), s.kh(), s.kw());
        int ho = s.spec().outSize(s.h(), s.kh()), wo = s.spec().outSize(s.w(), s.kw());
        Tensor y = be.zeros(batch, s.co(), ho, wo), gy = Bench.random(be, r, batch, s.co(), ho, wo);
        Tensor gx = be.zeros(x.shape()), gw = be.zeros(w.shape());
        if (!CpuBackend.convPath(x, w, s.spec()).equals(mode)) {
            return Double.NaN;
        }
        double[] ms = new double[reps];
        for (int i = -warmup; i < reps; i++) {
            long t0 = System.nanoTime();
            be.conv2dForward(x, w, y, s.spec());
            be.conv2dBackward(x, w, gy, gx, gw, s.spec());
            if (i >= 0) {
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        if (reps == 0) {
            return Double.NaN;
        }
        Arrays.sort(ms);
        return reps % 2 == 1 ? ms[reps / 2] : 0.5 * (ms[reps / 2 - 1] + ms[reps / 2]);
    }
}
