package dev.pdecnn.sweep;

import dev.pdecnn.UserException;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A Kubernetes Indexed Job ({@code SWEEP/k8s-job.yaml}): one completion index per cell, each pod running
 * {@code sweep cell /sweeps/<name>} with the index from {@code JOB_COMPLETION_INDEX}, on the repository's image
 * (entrypoint {@code java -jar /app/trainer.jar}, configs in /app/configs) with the sweep folder on a
 * PersistentVolumeClaim. A pod that is evicted gets SIGTERM, checkpoints within the grace period and exits 143;
 * {@code backoffLimitPerIndex} lets its index run again, which resumes the checkpoint. Written with SnakeYAML from
 * maps, so the text is valid YAML whatever the names hold.
 */
public final class K8sExecutor {
    public static final String MANIFEST = "k8s-job.yaml";
    /** Where the pod sees the sweep folder; the sweep's own folder name below it. */
    public static final String MOUNT_ROOT = "/sweeps";

    /**
     * The options of {@code sweep run --executor k8s}. {@code jvmArgs} reach the cells' JVMs through
     * {@code JAVA_TOOL_OPTIONS} (the image's entrypoint runs java itself), so each must be one word.
     */
    public record Options(String image, String pvc, int maxParallel, int cpusPerTask, int gpusPerTask,
                          int backoffLimitPerIndex, int gracePeriodSeconds, List<String> jvmArgs, String mem) {
    }

    private K8sExecutor() {
    }

    /** The Job's name: Kubernetes wants a lowercase DNS label (letters, digits, '-'; at most 63). */
    static String jobName(String sweep) {
        String s = ("sweep-" + sweep).toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9-]", "-").replaceAll("-+", "-");
        s = s.length() > 52 ? s.substring(0, 52) : s; // room for the pods' suffixes
        return s.replaceAll("-+$", "");
    }

    public static Map<String, Object> manifest(Plan plan, Options o) {
        for (String a : o.jvmArgs()) {
            if (!a.matches("\\S+") || a.contains("'") || a.contains("\"")) {
                throw new UserException("--jvm-arg '" + a + "' holds a space or a quote, which JAVA_TOOL_OPTIONS (how "
                        + "the pods' JVMs get it) cannot carry; pass it without");
            }
        }
        List<String> jvm = new ArrayList<>(List.of("-Dpdecnn.cpu.threads=" + o.cpusPerTask()));
        jvm.addAll(CellMemory.jvmArgs(o.jvmArgs(), o.mem()));
        int n = plan.cells().size();
        String mount = MOUNT_ROOT + "/" + plan.name();

        List<Object> args = new ArrayList<>(List.of("sweep", "cell", mount));
        if (o.gpusPerTask() > 0) {
            args.addAll(List.of("--device", "0"));
        }
        Map<String, Object> limits = new LinkedHashMap<>();
        if (o.gpusPerTask() > 0) {
            limits.put("nvidia.com/gpu", o.gpusPerTask());
        }
        Map<String, Object> resources = map("requests", map("cpu", Integer.toString(o.cpusPerTask()),
                "memory", CellMemory.kubernetes(o.mem())));
        if (!limits.isEmpty()) {
            resources.put("limits", limits);
        }
        Map<String, Object> container = map("name", "cell", "image", o.image(), "args", args,
                // /app: relative config paths of the plan (configs/...) resolve against the image's /app/configs
                "workingDir", "/app",
                "env", List.of(map("name", "JAVA_TOOL_OPTIONS", "value", String.join(" ", jvm))),
                "resources", resources,
                "volumeMounts", List.of(map("name", "sweep", "mountPath", mount)));
        Map<String, Object> podSpec = map("restartPolicy", "Never",
                "terminationGracePeriodSeconds", o.gracePeriodSeconds(),
                // the image's user (uid 1000) must be able to write the volume
                "securityContext", map("runAsUser", 1000, "runAsGroup", 1000, "fsGroup", 1000),
                "containers", List.of(container),
                "volumes", List.of(map("name", "sweep", "persistentVolumeClaim", map("claimName", o.pvc()))));
        Map<String, Object> spec = map("completionMode", "Indexed", "completions", n,
                "parallelism", o.maxParallel() > 0 ? Math.min(o.maxParallel(), n) : n,
                "backoffLimitPerIndex", o.backoffLimitPerIndex(),
                "template", map("metadata", map("labels", labels(plan)), "spec", podSpec));
        return map("apiVersion", "batch/v1", "kind", "Job",
                "metadata", map("name", jobName(plan.name()), "labels", labels(plan)), "spec", spec);
    }

    /** A new map each time: a shared one would be dumped as a YAML anchor and alias. */
    private static Map<String, Object> labels(Plan plan) {
        return map("app", "pde-trainer", "sweep", jobName(plan.name()));
    }

    public static String yaml(Map<String, Object> manifest) {
        DumperOptions d = new DumperOptions();
        d.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        d.setIndent(2);
        d.setIndicatorIndent(0);
        return "# Written by `sweep run --executor k8s`; apply with kubectl apply -f (see README, Kubernetes).\n"
                + new Yaml(d).dump(manifest);
    }

    /** An ordered map of key, value, key, value, ... */
    private static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
