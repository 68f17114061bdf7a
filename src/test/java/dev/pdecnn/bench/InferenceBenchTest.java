package dev.pdecnn.bench;

import dev.pdecnn.UserException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** bench --inference: one row per model and batch with both runtimes' numbers; unknown names are refused. */
class InferenceBenchTest {
    @Test
    void tableHasBothRuntimesAtBatch1And64() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
            assertEquals(0, InferenceBench.run(List.of("row8_advection"), 0, 1, out));
        }
        List<String> rows = buf.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("| row8")).toList();
        assertEquals(2, rows.size(), buf.toString(StandardCharsets.UTF_8));
        // the parameter count of `ops --model` for row 8 and its conv + dense MACs, then batch and positive times
        assertTrue(rows.get(0).matches("\\| row8_advection \\| [0-9,]+ \\| [0-9.]+M \\| 1 \\| [0-9.]+ \\| [0-9]+ \\| "
                + "[0-9.]+ \\| [0-9]+ \\| [0-9.]+x \\|"), rows.get(0));
        assertTrue(rows.get(1).contains("| 64 |"), rows.get(1));
    }

    @Test
    void unknownModelIsRefused() {
        UserException e = assertThrows(UserException.class,
                () -> InferenceBench.run(List.of("row9"), 0, 1, new PrintStream(new ByteArrayOutputStream())));
        assertTrue(e.getMessage().contains("row9") && e.getMessage().contains("row1_resnet32"), e.getMessage());
    }
}
