package dev.pdecnn.cli;

import dev.pdecnn.config.ConfigFiles;
import dev.pdecnn.config.RunConfig;
import picocli.CommandLine;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Help.IOptionRenderer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;

import java.nio.file.Path;

/**
 * Options that define the model and its PDE (shared by train, ops, bench). Each long option name is a
 * {@link RunConfig} key with dashes for underscores; only options the user actually typed are applied, after
 * the config file, so the command line overrides the file and unset options keep file or built-in values.
 * The defaults shown in --help are RunConfig's own (a test keeps them in sync); a numeric key's allowed values
 * are written {@code {range}} in its option's description, which --help shows as the range RunConfig enforces
 * ({@link #showRanges}), and a choice key's are its completion candidates ({@link ChoiceNames}), which come from
 * the key's enum, so neither can differ from what is accepted.
 */
public class ConfigOptions {
    @Option(names = "--config", paramLabel = "FILE", description = "YAML (or JSON) file of config keys, e.g. "
            + "configs/mnist_pde_const_c8.yaml; command-line options override its values.")
    Path config;

    @Option(names = "--model", paramLabel = "NAME", defaultValue = "pde",
            completionCandidates = ChoiceNames.Models.class, description = "Network: ${COMPLETION-CANDIDATES} (cnn, residual and pde are the MNIST example). "
                    + "Default: ${DEFAULT-VALUE}.")
    String model;

    @Option(names = "--channels", paramLabel = "C", defaultValue = "8",
            description = "Width C of the MNIST example's block (the study uses 1 and 8). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer channels;

    @Option(names = "--K", paramLabel = "K", defaultValue = "5",
            description = "PDE time steps of a Global layer / the MNIST pde block. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Integer steps;

    @Option(names = "--dt", defaultValue = "0.2", description = "PDE time step. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double dt;

    @Option(names = "--dx", defaultValue = "1.0", description = "Grid spacing along rows (x). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double dx;

    @Option(names = "--dy", defaultValue = "1.0", description = "Grid spacing along columns (y). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double dy;

    @Option(names = "--diffusivity", paramLabel = "MODE", completionCandidates = ChoiceNames.Diffusivities.class,
            description = "Diffusivity D: ${COMPLETION-CANDIDATES} for Global layers; constant or perona_malik for "
                    + "the MNIST pde model. Default: constant (pde), learned (Global layers).")
    String diffusivity;

    @Option(names = "--diffusivity-constant", paramLabel = "C", defaultValue = "1.0",
            description = "D when --diffusivity constant. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double diffusivityConstant;

    @Option(names = "--pm-lambda", paramLabel = "LAMBDA", defaultValue = "2.0",
            description = "Perona-Malik edge scale lambda in D = 1/(1+(Sobel h)^2/lambda^2). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double pmLambda;

    @Option(names = "--velocity", paramLabel = "MODE", defaultValue = "learned",
            completionCandidates = ChoiceNames.Velocities.class,
            description = "Global-layer velocity: ${COMPLETION-CANDIDATES}. zero: u = v = 0, no velocity networks; "
                    + "zero_input: the study's diffusion equation (the velocity networks fed zeros, a learned "
                    + "constant per channel). Default: ${DEFAULT-VALUE}.")
    String velocity;

    @Option(names = "--velocity-net", paramLabel = "NET", defaultValue = "dwconv",
            completionCandidates = ChoiceNames.SubNets.class,
            description = "Sub-network for u, v: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    String velocityNet;

    @Option(names = "--diffusivity-net", paramLabel = "NET", defaultValue = "dwconv",
            completionCandidates = ChoiceNames.SubNets.class,
            description = "Sub-network for learned Dx, Dy: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    String diffusivityNet;

    @Option(names = "--init", paramLabel = "NET", defaultValue = "identity",
            completionCandidates = ChoiceNames.Inits.class, description = "Global-layer h = init(f): ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
    String init;

    @Option(names = "--blocks", paramLabel = "M", description = "BasicBlocks per ResNet stage. Range: {range}. Default: 5 for "
            + "resnet32 and resnet, 1 for resnet32_global.")
    Integer blocks;

    @Option(names = "--widths", paramLabel = "W,W,..", defaultValue = "16,32,64,64",
            description = "ResNet stage widths (strides 1, 2, 2, ...). Range: {range} each, 1 to "
                    + RunConfig.MAX_STAGES + " stages. Default: ${DEFAULT-VALUE}.")
    String widths;

    @Option(names = "--global-after", paramLabel = "S,S,..", description = "ResNet stages followed by a Global "
            + "layer. Range: {range} each, each stage at most once. Default: none, 1,2,3 for resnet32_global.")
    String globalAfter;

    @Option(names = "--bn-momentum", defaultValue = "0.01", description = "Batch-norm running-statistics momentum, "
            + "PyTorch convention (the study's Keras 0.99). Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double bnMomentum;

    @Option(names = "--bn-eps", defaultValue = "0.001", description = "Batch-norm epsilon. Range: {range}. Default: ${DEFAULT-VALUE}.")
    Double bnEps;

    @Option(names = "--weight-init", paramLabel = "SCHEME", defaultValue = "torch",
            completionCandidates = ChoiceNames.WeightInits.class, description = "Initial conv and dense weights: "
            + "${COMPLETION-CANDIDATES}. he_normal: normal of variance 2/fan_in for convs, Glorot-uniform dense; "
            + "torch: PyTorch's defaults, uniform within +-1/sqrt(fan_in), dense bias too; glorot_uniform: Keras' "
            + "default, zero dense bias. Default: ${DEFAULT-VALUE}.")
    String weightInit;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of weights, data order and augmentation. "
            + "Default: ${DEFAULT-VALUE}.")
    Long seed;

    /** Builds the config: built-in defaults, then --config, then the typed options of {@code spec}'s command. */
    public static RunConfig resolve(CommandSpec spec, Path configFile) {
        RunConfig cfg = new RunConfig();
        if (configFile != null) {
            ConfigFiles.apply(configFile, cfg);
        }
        ParseResult pr = spec.commandLine().getParseResult();
        for (OptionSpec o : pr.matchedOptions()) {
            String key = configKey(o);
            if (key != null) {
                Object v = o.getValue();
                cfg.set(key, v instanceof Path p ? p.toString() : v, o.longestName());
            }
        }
        cfg.validate();
        return cfg;
    }

    /** Where an option's description says {@code {range}}, --help writes the range RunConfig enforces for its key. */
    static void showRanges(CommandLine cl) {
        cl.setHelpFactory((spec, scheme) -> new CommandLine.Help(spec, scheme) {
            @Override
            public IOptionRenderer createDefaultOptionRenderer() {
                IOptionRenderer plain = super.createDefaultOptionRenderer();
                return (option, labels, colors) -> {
                    Text[][] rows = plain.render(option, labels, colors);
                    for (Text[] row : rows) {
                        int d = row.length - 1; // the description column
                        String text = row[d].plainString();
                        if (text.contains(RANGE)) {
                            String key = configKey(option), range = key == null ? null : RunConfig.rangeText(key);
                            if (range == null) {
                                throw new IllegalStateException(option.longestName() + " shows " + RANGE
                                        + " but is no numeric config key");
                            }
                            row[d] = colors.text(text.replace(RANGE, range));
                        }
                    }
                    return rows;
                };
            }
        });
    }

    private static final String RANGE = "{range}";

    /** The config key behind an option, or null for options that are not config keys (--config, --resume). */
    static String configKey(OptionSpec o) {
        String k = o.longestName().replaceFirst("^--", "").replace('-', '_');
        return RunConfig.keys().contains(k) ? k : null;
    }
}
