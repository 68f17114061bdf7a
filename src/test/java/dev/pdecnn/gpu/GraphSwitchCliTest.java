package dev.pdecnn.gpu;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The switch end to end: {@code bench --device emulated} runs its steps eagerly by default (every device's default,
 * a GPU's included: {@code StepGraphs.BY_DEFAULT}) and replays them as CUDA graphs
 * with {@code pdecnn.cuda.graphs=true} (the Java property of {@code PDECNN_CUDA_GRAPHS=1}, which the same parser
 * reads: {@link StepGraphsTest}).
 */
class GraphSwitchCliTest {
    private static final String[] BENCH = {"bench", "--device", "emulated", "--batch", "2", "--warmup", "1", "--reps",
            "4", "pde_const_c1"};

    @Test
    void benchRunsEagerlyUnlessSwitchedOn() {
        Emulated.executable();
        CliRunner.Result off = CliRunner.run(BENCH);
        assertEquals(0, off.code(), off.err());
        assertTrue(off.out().contains("CUDA graphs: off"), off.out());

        System.setProperty("pdecnn.cuda.graphs", "true");
        try {
            CliRunner.Result on = CliRunner.run(BENCH);
            assertEquals(0, on.code(), on.err());
            Matcher m = Pattern.compile("CUDA graphs: on, (\\d+) graphs captured, (\\d+) steps replayed, (\\d+) eager")
                    .matcher(on.out());
            assertTrue(m.find(), on.out());
            // 5 steps: the first two eager (the first uploads the weights), the third captured, all later replayed
            assertEquals("1", m.group(1), on.out());
            assertEquals("3", m.group(2), on.out());
            assertEquals("2", m.group(3), on.out());
        } finally {
            System.clearProperty("pdecnn.cuda.graphs");
        }
    }
}
