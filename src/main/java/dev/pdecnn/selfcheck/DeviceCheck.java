package dev.pdecnn.selfcheck;

import dev.pdecnn.backend.Device;
import dev.pdecnn.backend.cuda.CudaBackend;
import dev.pdecnn.backend.cuda.CudaDevice;
import dev.pdecnn.backend.cuda.DeviceMemory;
import dev.pdecnn.backend.cuda.KernelRunner;
import dev.pdecnn.tensor.DType;
import dev.pdecnn.tensor.Tensor;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * {@code devices --check}: whether this device computes what the CPU computes, from what the jar holds (no test
 * classes, no toolkit). In order: every kernel family on small random inputs against the float64 CPU reference
 * ({@link KernelChecks}), one SGD training step of a plain and two condensed networks against the CPU backends
 * ({@link StepChecks}), CUDA-graph replay against eager steps, and the TF32 tensor-core kernels against a
 * TF32-rounded float64 reference where the device has them. One line per check (worst error, tolerance, time),
 * then a verdict. Tolerances are {@link Compare}'s and the step tests', with their justifications there.
 *
 * <p>A check that throws (a kernel fault, a missing kernel in the fatbin) is a failed check with the error's
 * first line, and the others still run, unless the device itself is gone.
 */
public final class DeviceCheck {
    /** One check's outcome. {@code error}: the worst measure over the tensors it compared; NaN when it threw. */
    public record Result(String section, String name, double error, double tol, long nanos, String note) {
        public boolean ok() {
            return note == null || note.startsWith("skipped");
        }

        public boolean skipped() {
            return note != null && note.startsWith("skipped");
        }
    }

    /** The worst error over the tensors one check compares, and which tensor it was. */
    public static final class Measured {
        private double worst;
        private String where;
        private String failure;

        /** {@link Compare#scaled} of one tensor. */
        public Measured scaled(String what, Tensor ref, Tensor got) {
            return add(what, Compare.scaled(ref, got));
        }

        /** {@link Compare#relative} of one tensor. */
        public Measured relative(String what, Tensor ref, Tensor got) {
            return add(what, Compare.relative(ref, got));
        }

        /** A measure computed elsewhere (a loss, a ratio). */
        public Measured add(String what, double error) {
            if (!(error <= worst)) { // NaN too
                worst = Double.isNaN(error) ? Double.POSITIVE_INFINITY : error;
                where = what;
            }
            return this;
        }

        /** A condition the check needs beyond the measures (e.g. that the tensor cores ran). */
        public Measured require(boolean condition, String failure) {
            if (!condition && this.failure == null) {
                this.failure = failure;
            }
            return this;
        }
    }

    /** A named check: compares and returns its measures. */
    @FunctionalInterface
    public interface Body {
        Measured run();
    }

    /** The device memory each check's backends may use: far more than the small inputs need. */
    static final long BUDGET = 256L << 20;

    private final KernelRunner runner;
    /** The device opened for the check, whose graphs the graph checks use; null: graphs as the runner allows. */
    private final CudaDevice device;
    private final PrintStream out;
    private final List<Result> results = new ArrayList<>();
    private final List<CudaBackend> open = new ArrayList<>();
    private String section = "";

    public DeviceCheck(KernelRunner runner, PrintStream out) {
        this(runner, null, out);
    }

    private DeviceCheck(KernelRunner runner, CudaDevice device, PrintStream out) {
        this.runner = runner;
        this.device = device;
        this.out = out;
    }

    /** The check of an opened device: a GPU or the emulation ({@link IllegalArgumentException} for the host). */
    public static DeviceCheck on(Device device, PrintStream out) {
        if (!(device instanceof CudaDevice c)) {
            throw new IllegalArgumentException("the device check compares a CUDA device with the CPU, not "
                    + device.description());
        }
        return new DeviceCheck(c.runner(), c, out);
    }

    /** A float32 backend with buffers from {@code memory} and steps as CUDA graphs or not, as the device makes them. */
    CudaBackend graphBackend(DeviceMemory memory, boolean graphs) {
        CudaBackend.Options o = CudaBackend.defaultOptions(runner).withGraphs(graphs);
        return device != null ? device.backendOn(memory, DType.F32, o) : new CudaBackend(memory, DType.F32, o);
    }

    /** Whether this device makes CUDA graphs of steps. */
    boolean capturesGraphs() {
        return device != null ? device.capturesGraphs() : new CudaBackend(runner, DType.F32).device().capturesGraphs();
    }

    public KernelRunner runner() {
        return runner;
    }

    /** The parts of the check, in the order they run. */
    public enum Section {
        KERNELS("kernels: float32 and float64 against the float64 CPU reference"),
        STEPS("one SGD training step against the CPU backends (models at widths 4, one block per stage)"),
        GRAPHS("CUDA graphs: replayed steps against eager steps, bit for bit"),
        TF32("TF32 tensor cores against the TF32-rounded float64 reference");

        final String title;

        Section(String title) {
            this.title = title;
        }
    }

    /** Runs every section; true when every check passed. */
    public boolean runAll() {
        return run(java.util.EnumSet.allOf(Section.class));
    }

    /** Runs the given sections; true when every check passed. */
    public boolean run(java.util.Set<Section> sections) {
        long t0 = System.nanoTime();
        out.println("device check on " + runner.description());
        for (Section s : sections) {
            section = s.title;
            out.println("== " + s.title);
            switch (s) {
                case KERNELS -> KernelChecks.run(this);
                case STEPS -> StepChecks.steps(this);
                case GRAPHS -> StepChecks.graphs(this);
                case TF32 -> KernelChecks.tf32(this);
            }
        }
        return verdict((System.nanoTime() - t0) / 1e9);
    }

    /** A backend on the device with a checked memory budget; released after the check that made it. */
    public CudaBackend backend(DType t, UnaryOperator<CudaBackend.Options> options) {
        CudaBackend be = new CudaBackend(DeviceMemory.checked(runner, BUDGET), t,
                options.apply(CudaBackend.defaultOptions(runner)));
        open.add(be);
        return be;
    }

    public CudaBackend backend(DType t) {
        return backend(t, o -> o);
    }

    /** Runs one check and prints its line. */
    public void check(String name, double tol, Body body) {
        long t0 = System.nanoTime();
        double err;
        String note;
        try {
            Measured m = body.run();
            runner.synchronize();
            err = m.worst;
            note = m.failure != null ? m.failure
                    : err <= tol ? null : "worst in " + m.where;
        } catch (RuntimeException | AssertionError e) {
            err = Double.NaN;
            String msg = String.valueOf(e.getMessage()).strip();
            int nl = msg.indexOf('\n');
            note = e.getClass().getSimpleName() + ": " + (nl < 0 ? msg : msg.substring(0, nl));
        } finally {
            release();
        }
        record(new Result(section, name, err, tol, System.nanoTime() - t0, note));
    }

    /** A check that does not apply here, with the reason. */
    public void skip(String name, String why) {
        record(new Result(section, name, 0, 0, 0, "skipped: " + why));
    }

    private void record(Result r) {
        results.add(r);
        if (r.skipped()) {
            out.printf(Locale.ROOT, "  skip  %-50s %s%n", r.name(), r.note().substring("skipped: ".length()));
            return;
        }
        out.printf(Locale.ROOT, "  %-4s  %-50s err %-8s tol %.0e %7.0f ms%s%n", r.ok() ? "ok" : "FAIL", r.name(),
                Double.isNaN(r.error()) ? "-" : String.format(Locale.ROOT, "%.1e", r.error()), r.tol(),
                r.nanos() / 1e6, r.ok() ? "" : "  " + r.note());
    }

    private void release() {
        for (CudaBackend be : open) {
            try {
                be.device().releaseDevice();
            } catch (RuntimeException ignored) {
                // the check already failed on this device; its buffers go with the process
            }
        }
        open.clear();
    }

    public List<Result> results() {
        return List.copyOf(results);
    }

    private boolean verdict(double seconds) {
        List<Result> failed = results.stream().filter(r -> !r.ok()).toList();
        long run = results.stream().filter(r -> !r.skipped()).count();
        long skipped = results.size() - run;
        String counts = String.format(Locale.ROOT, "%d checks%s, %.1f s", run,
                skipped > 0 ? " (" + skipped + " skipped)" : "", seconds);
        if (failed.isEmpty()) {
            out.println("verdict: PASS: this device computes what the CPU computes (" + counts + ")");
            return true;
        }
        List<String> names = failed.stream().map(Result::name).limit(5).toList();
        out.println("verdict: FAIL: " + failed.size() + " of " + run + " checks failed (" + counts + "): "
                + String.join("; ", names) + (failed.size() > names.size() ? "; ..." : ""));
        return false;
    }
}
