package dev.pdecnn.report;

import dev.pdecnn.config.Choices;
import dev.pdecnn.config.Choices.Model;
import dev.pdecnn.config.ModelConfig;
import dev.pdecnn.config.RunConfig;
import dev.pdecnn.config.TypedConfig;
import dev.pdecnn.models.Models;

import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What defines a row of the study's tables, in the words of their columns: the data set, the model's name
 * ({@link Models#name}, which carries the MNIST block and its width) and the options of the Global layer, or of
 * the MNIST PDE block, that tell the rows apart (velocity, diffusivity, initialisation). Settings that the study
 * held fixed across a table (K, dt, the training recipe) are not part of it, so a sweep that varies them still
 * lines up with its row. Options a model does not use read "-".
 */
public record ModelIdentity(String dataset, String model, String velocity, String diffusivity, String init) {

    /** The identity of a config (validated first unless it was; {@link RunConfig#validate} resolves the defaults). */
    public static ModelIdentity of(RunConfig cfg) {
        return of(cfg.typed());
    }

    /** The identity of a validated config's typed parts. */
    public static ModelIdentity of(TypedConfig cfg) {
        ModelConfig m = cfg.model();
        String v = "-", d = "-", init = "-";
        if (m.model == Model.PDE) {
            v = "conv (u = v)"; // the MNIST block's velocity is its own conv, not an option
            d = diffusivityText(m);
        } else if (!m.isMnistModel() && !m.globalAfter.isEmpty()) {
            v = velocityText(m);
            d = diffusivityText(m);
            init = Choices.name(m.init);
        }
        return new ModelIdentity(Choices.name(cfg.data().dataset()), Models.name(m), v, d, init);
    }

    /** The keys that decide the identity (with the model defaults {@link RunConfig#validate} derives from them). */
    static final List<String> KEYS = List.of("model", "channels", "dataset", "velocity", "velocity_net", "diffusivity",
            "diffusivity_net", "diffusivity_constant", "pm_lambda", "init", "global_after", "blocks", "widths");

    /**
     * The identity of a saved config (a summary's or config.json's map). Only {@link #KEYS} are read, so a run
     * folder written by an older or newer trainer, with keys this one does not know, still reports.
     */
    public static ModelIdentity of(Map<String, Object> config, String source) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : KEYS) {
            if (config.get(k) != null) {
                m.put(k, config.get(k));
            }
        }
        return of(RunConfig.fromMap(m, source).validate());
    }

    /**
     * The velocity sub-network ("dwconv"), "zero" (u = v = 0, no velocity networks) or "zero_input dwconv" (the
     * study's diffusion equation: the networks fed zeros), so a report says which diffusion equation a row ran.
     */
    private static String velocityText(ModelConfig m) {
        return switch (m.velocity) {
            case ZERO -> "zero";
            case ZERO_INPUT -> "zero_input " + Choices.name(m.velocityNet);
            case LEARNED -> Choices.name(m.velocityNet);
        };
    }

    /** "dwconv" for a learned D (its sub-network), "constant 1", "perona_malik 2" (lambda) or "zero". */
    private static String diffusivityText(ModelConfig m) {
        return switch (m.diffusivity) {
            case LEARNED -> Choices.name(m.diffusivityNet);
            case CONSTANT -> "constant " + plain(m.diffusivityConstant);
            case PERONA_MALIK -> "perona_malik " + plain(m.pmLambda);
            case ZERO -> Choices.name(m.diffusivity);
        };
    }

    /** 1.0 as "1", 0.25 as "0.25": the way the study's tables and the shipped configs write them. */
    static String plain(double x) {
        return BigDecimal.valueOf(x).stripTrailingZeros().toPlainString();
    }
}
