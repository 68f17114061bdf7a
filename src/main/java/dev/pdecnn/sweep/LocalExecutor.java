package dev.pdecnn.sweep;

import dev.pdecnn.train.Progress;
import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Runs a sweep's unfinished cells on this machine: one worker per GPU ({@code --devices}) or N CPU workers
 * ({@code --workers}, the cores split between them through the CPU backend's {@code pdecnn.cpu.threads}). Each
 * cell is a child JVM running {@code sweep cell}, its output in {@code SWEEP/logs/<id>.log}; finished cells are
 * skipped and stopped ones resume from their checkpoints, so running the same command again continues the sweep. A failed
 * cell is reported and the others go on. SIGINT/SIGTERM stop the workers: each child gets one SIGTERM (it
 * checkpoints and exits 143) and no new cell starts.
 */
public final class LocalExecutor {
    private final Path sweepDir;
    private final Plan plan;
    private final List<String> devices;
    private final int workers;
    private final List<String> jvmArgs;
    private final PrintStream out;
    private final Map<Integer, Process> children = new ConcurrentHashMap<>();
    private final Queue<Cell> queue = new ConcurrentLinkedQueue<>();
    private volatile String stopSignal;
    private int done, failed, stopped, running;
    private double finishedSeconds;
    private int finishedCount;
    private final List<String> failures = new ArrayList<>();

    /** {@code devices} non-empty: one worker per GPU; else {@code workers} CPU workers. */
    public LocalExecutor(Path sweepDir, Plan plan, List<String> devices, int workers, List<String> jvmArgs,
                         PrintStream out) {
        this.sweepDir = sweepDir.toAbsolutePath().normalize();
        this.plan = plan;
        this.devices = devices;
        this.workers = devices.isEmpty() ? workers : devices.size();
        this.jvmArgs = jvmArgs;
        this.out = out;
    }

    /** Runs the cells; the exit code: 0 all done, 1 some failed, 128 + signal when stopped by one. */
    public int run(boolean handleSignals) throws InterruptedException {
        int already = 0, elsewhere = 0;
        for (Cell c : plan.cells()) {
            CellState s = CellState.of(sweepDir, c);
            if (s.kind() == CellState.Kind.DONE) {
                already++;
            } else if (s.kind() == CellState.Kind.RUNNING) {
                elsewhere++; // another process trains it: leave it alone
            } else {
                queue.add(c);
            }
        }
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / workers);
        out.printf("sweep %s: %d cells, %d finished already%s, %d to run on %d %s; logs in %s%n", plan.name(),
                plan.cells().size(), already, elsewhere > 0 ? ", " + elsewhere + " running elsewhere (skipped)" : "",
                queue.size(), workers, devices.isEmpty() ? "CPU worker(s) of " + threads + " thread(s)"
                        : "GPU worker(s) " + devices, sweepDir.resolve(SweepFolder.LOGS));
        done = already;
        Map<Signal, SignalHandler> previous = handleSignals ? installSignals() : Map.of();
        List<Thread> ts = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            List<String> extra = new ArrayList<>(jvmArgs);
            String dev = devices.isEmpty() ? null : devices.get(w);
            if (dev == null) {
                extra.add("-Dpdecnn.cpu.threads=" + threads);
            }
            Thread t = new Thread(() -> work(extra, dev), "sweep-worker-" + w);
            t.start();
            ts.add(t);
        }
        for (Thread t : ts) {
            t.join();
        }
        previous.forEach(Signal::handle);
        StatusTable.print(sweepDir, plan, out);
        out.printf("this run: %d done, %d failed, %d stopped, %d not run%n", done - already, failed, stopped,
                queue.size());
        failures.forEach(out::println);
        if (stopSignal != null) {
            out.println("stopped by " + stopSignal + "; run the same command again to continue");
            return stopSignal.equals("SIGINT") ? 130 : 143;
        }
        return failed > 0 || stopped > 0 ? 1 : 0;
    }

    private void work(List<String> jvm, String device) {
        Cell c;
        while (stopSignal == null && (c = queue.poll()) != null) {
            List<String> args = new ArrayList<>(List.of("sweep", "cell", sweepDir.toString(), "--index",
                    Integer.toString(c.index())));
            if (device != null) {
                args.addAll(List.of("--device", device));
            }
            List<String> cmd = Launcher.command(jvm, args);
            // Its own session: a Ctrl-C on the terminal reaches only this process, which forwards one SIGTERM;
            // a second signal would make the child exit without its checkpoint.
            if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
                cmd.add(0, "/usr/bin/setsid");
            }
            Path log = SweepFolder.log(sweepDir, c);
            long t0 = System.nanoTime();
            int code;
            try {
                Files.createDirectories(log.getParent());
                Process p;
                synchronized (this) {
                    if (stopSignal != null) {
                        queue.add(c);
                        return;
                    }
                    p = new ProcessBuilder(cmd).redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
                    children.put(c.index(), p);
                    running++;
                    event("started " + c.id() + (device == null ? "" : " on GPU " + device));
                }
                code = p.waitFor();
            } catch (IOException e) {
                code = -1;
                SweepFolder.markFailed(sweepDir, c, "cannot start the cell's JVM: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            finish(c, code, secs);
        }
    }

    private synchronized void finish(Cell c, int code, double secs) {
        if (children.remove(c.index()) != null) {
            running--;
        }
        CellState s = CellState.of(sweepDir, c);
        String took = " after " + Progress.clock(secs);
        if (code == 0 && s.kind() == CellState.Kind.DONE) {
            done++;
            finishedSeconds += secs;
            finishedCount++;
            event("finished " + c.id() + took + String.format(Locale.ROOT, " (best test accuracy %.2f%%)",
                    100 * s.bestAcc()));
        } else if (code == SweepFolder.EXIT_BUSY) { // another process won the race for the cell: it trains it
            event("skipped " + c.id() + took + ": running in another process (" + s.describe() + ")");
        } else if (code == 130 || code == 138 || code == 143) {
            stopped++;
            event("stopped " + c.id() + took + " (exit " + code + "): " + s.describe());
        } else {
            failed++;
            if (!Files.exists(SweepFolder.failedMarker(sweepDir, c))) {
                SweepFolder.markFailed(sweepDir, c, "exit code " + code + "; see " + SweepFolder.log(sweepDir, c));
            }
            String why = CellState.of(sweepDir, c).note();
            failures.add("failed: " + c.id() + " (exit " + code + "): " + why + "; log " + SweepFolder.log(sweepDir, c));
            event("FAILED " + c.id() + took + " (exit " + code + "): " + why);
        }
    }

    /** One progress line: the event, then done / running / failed / left and the ETA. */
    private void event(String what) {
        int left = queue.size();
        String eta = "ETA unknown";
        if (finishedCount > 0) {
            double per = finishedSeconds / finishedCount;
            eta = "ETA " + Progress.clock(per * (left + running * 0.5) / workers);
        }
        out.printf("[%s] %s | done %d/%d, running %d, failed %d, left %d, %s%n",
                LocalTime.now().format(java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss")), what, done, plan.cells().size(), running, failed,
                left, stopSignal != null ? "stopping" : eta);
        out.flush();
    }

    /** SIGINT/SIGTERM: forward one SIGTERM to every child, start nothing new, wait; a second one forwards again. */
    private Map<Signal, SignalHandler> installSignals() {
        Map<Signal, SignalHandler> previous = new java.util.LinkedHashMap<>();
        for (String name : new String[]{"INT", "TERM"}) {
            try {
                Signal sig = new Signal(name);
                previous.put(sig, Signal.handle(sig, s -> {
                    synchronized (this) {
                        stopSignal = "SIG" + s.getName();
                        out.println();
                        out.println(stopSignal + ": asking " + children.size() + " running cell(s) to checkpoint "
                                + "and stop; send it again to stop them at once");
                        children.values().forEach(Process::destroy); // SIGTERM on Linux
                    }
                }));
            } catch (IllegalArgumentException e) {
                // not available here (e.g. java -Xrs): the signal keeps its default
            }
        }
        return previous;
    }
}
