package dev.pdecnn.train;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Graceful stop on SIGINT (Ctrl-C), SIGTERM (docker stop, a cluster's preemption) and SIGUSR1 (what Slurm sends
 * before a time limit): the first signal asks the training loop to finish its current step, write a mid-epoch
 * checkpoint and exit with 128 + the signal number (130, 143, 138); a second signal exits at once with the same
 * code. sun.misc.Signal is the only JDK way to catch a signal and keep running (shutdown hooks cannot delay the
 * exit long enough to save, and cannot tell the signals apart); it lives in jdk.unsupported, which every JDK ships.
 *
 * <p>Handlers are installed only while a command-line training runs in its own process ({@link #enableForProcess}
 * from main): inside a test JVM or a library caller, signals keep their default meaning.
 */
public final class StopSignals implements AutoCloseable {
    /** The signals handled, with their exit codes (128 + the signal number on Linux). */
    private static final Map<String, Integer> CODES = Map.of("INT", 130, "TERM", 143, "USR1", 138);
    private static volatile boolean enabled;

    private final Map<Signal, SignalHandler> previous = new LinkedHashMap<>();
    private final PrintStream log;
    private volatile String requested;
    private volatile int exitCode;

    private StopSignals(PrintStream log) {
        this.log = log;
    }

    /** Called by the process entry point: training in this process may take over the stop signals. */
    public static void enableForProcess() {
        enabled = true;
    }

    /** Whether this is a real process that may take over the stop signals (see {@link #enableForProcess}). */
    public static boolean enabledForProcess() {
        return enabled;
    }

    /** Handlers for INT, TERM and USR1 until {@link #close()}; without {@link #enableForProcess}, none. */
    public static StopSignals install(PrintStream log) {
        StopSignals s = new StopSignals(log);
        if (enabled) {
            for (String name : new String[]{"INT", "TERM", "USR1"}) {
                try {
                    Signal sig = new Signal(name);
                    s.previous.put(sig, Signal.handle(sig, s::handle));
                } catch (IllegalArgumentException e) {
                    // not on this platform, or reserved by the JVM (e.g. run with -Xrs): it keeps its default
                }
            }
        }
        return s;
    }

    /** A handler that only records the stop (for tests and callers that stop training themselves). */
    public static StopSignals manual() {
        return new StopSignals(null);
    }

    private void handle(Signal sig) {
        String name = "SIG" + sig.getName();
        int code = CODES.getOrDefault(sig.getName(), 128 + sig.getNumber());
        if (requested != null) {
            // The user insists (a second Ctrl-C): no checkpoint, no cleanup; the atomic writes keep files whole.
            Runtime.getRuntime().halt(code);
        }
        request(name, code);
        if (log != null) {
            log.println();
            log.println(name + ": stopping after the current step and writing a checkpoint; send it again to "
                    + "exit at once");
            log.flush();
        }
    }

    /** Asks the loop to stop after its current step, as signal {@code name} would, exiting with {@code code}. */
    public void request(String name, int code) {
        exitCode = code;
        requested = name;
    }

    /** The signal that asked for a stop ("SIGTERM"), or null while none did. */
    public String requested() {
        return requested;
    }

    public int exitCode() {
        return exitCode;
    }

    /** Gives the signals back their previous handlers (the JVM's: exit at once). */
    @Override
    public void close() {
        previous.forEach((sig, h) -> {
            try {
                Signal.handle(sig, h);
            } catch (IllegalArgumentException ignored) {
                // cannot happen: it was installed above
            }
        });
        previous.clear();
    }
}
