package dev.pdecnn.gpu;

import dev.pdecnn.cli.CliRunner;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Dockerfile without a Docker engine (these machines have the client only): the stages and base images the
 * image needs, every path it copies from the build context exists and is not excluded by .dockerignore, the jar
 * it copies between stages is the one Maven builds, the entrypoint runs it; and the docker build / docker run
 * commands of docs/gpu.md and of README.md's "GPU and Docker" section are the same, fit the Dockerfile (image tag,
 * mounted data folder, runs folder) and pass valid options to the trainer.
 */
class DockerfileTest {
    static final Path ROOT = Path.of("").toAbsolutePath();

    /** One instruction: keyword, flags (--from=build), arguments; the stage it belongs to. */
    record Instr(String keyword, Map<String, String> flags, List<String> args, String raw, int stage) {
    }

    record Stage(String image, String name, String workdir) {
    }

    static final class Dockerfile {
        final List<Instr> instrs = new ArrayList<>();
        final List<Stage> stages = new ArrayList<>();

        Dockerfile(String text) {
            Map<String, String> args = new HashMap<>();
            String workdir = "/";
            for (String line : logicalLines(text, "#")) {
                String[] kv = line.split("\\s+", 2);
                String kw = kv[0].toUpperCase(java.util.Locale.ROOT), rest = kv.length > 1 ? kv[1] : "";
                if (kw.equals("ARG") && stages.isEmpty()) {
                    String[] a = rest.split("=", 2);
                    args.put(a[0].strip(), a.length > 1 ? a[1].strip() : "");
                    continue;
                }
                if (kw.equals("FROM")) {
                    String s = substitute(rest, args);
                    String[] t = s.split("\\s+");
                    String name = t.length >= 3 && t[1].equalsIgnoreCase("AS") ? t[2] : null;
                    stages.add(new Stage(t[0], name, "/"));
                    workdir = "/";
                    continue;
                }
                Map<String, String> flags = new LinkedHashMap<>();
                List<String> words = new ArrayList<>();
                if (rest.startsWith("[")) {
                    Matcher m = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(rest);
                    while (m.find()) {
                        words.add(m.group(1));
                    }
                } else {
                    for (String w : shellWords(rest)) {
                        if (w.startsWith("--") && words.isEmpty() && !kw.equals("RUN")) {
                            String[] f = w.substring(2).split("=", 2);
                            flags.put(f[0], f.length > 1 ? f[1] : "");
                        } else {
                            words.add(w);
                        }
                    }
                }
                if (kw.equals("WORKDIR")) {
                    workdir = words.get(0).startsWith("/") ? words.get(0) : workdir + "/" + words.get(0);
                    Stage st = stages.get(stages.size() - 1);
                    stages.set(stages.size() - 1, new Stage(st.image(), st.name(), workdir));
                }
                instrs.add(new Instr(kw, flags, words, line, stages.size() - 1));
            }
        }

        List<Instr> all(String keyword) {
            return instrs.stream().filter(i -> i.keyword().equals(keyword)).toList();
        }

        Stage stage(String name) {
            return stages.stream().filter(s -> name.equals(s.name())).findFirst().orElse(null);
        }

        /** The workdir a stage has when {@code instr} runs. */
        String workdirAt(Instr instr) {
            String wd = "/";
            for (Instr i : instrs) {
                if (i == instr) {
                    break;
                }
                if (i.stage() == instr.stage() && i.keyword().equals("WORKDIR")) {
                    wd = i.args().get(0);
                }
            }
            return wd;
        }
    }

    static String substitute(String s, Map<String, String> args) {
        Matcher m = Pattern.compile("\\$\\{(\\w+)}|\\$(\\w+)").matcher(s);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String name = m.group(1) != null ? m.group(1) : m.group(2);
            m.appendReplacement(b, Matcher.quoteReplacement(args.getOrDefault(name, "")));
        }
        return m.appendTail(b).toString();
    }

    /** Lines with backslash continuations joined and comment lines dropped. */
    static List<String> logicalLines(String text, String comment) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String line : text.split("\n")) {
            String t = line.strip();
            if (cur.isEmpty() && (t.isEmpty() || t.startsWith(comment))) {
                continue;
            }
            if (!cur.isEmpty() && t.startsWith(comment)) {
                continue; // a comment inside a continued instruction
            }
            if (t.endsWith("\\")) {
                cur.append(t, 0, t.length() - 1).append(' ');
            } else {
                cur.append(t);
                out.add(cur.toString().replaceAll("\\s+", " ").strip());
                cur.setLength(0);
            }
        }
        if (!cur.isEmpty()) {
            out.add(cur.toString().strip());
        }
        return out;
    }

    /** POSIX-shell-like word splitting with single and double quotes (no expansion). */
    static List<String> shellWords(String s) {
        List<String> words = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else {
                    w.append(c);
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(w.toString());
                    w.setLength(0);
                    inWord = false;
                }
            } else {
                w.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            words.add(w.toString());
        }
        return words;
    }

    /** .dockerignore: whether a context path (relative, '/'-separated) is excluded (last matching rule wins). */
    static boolean ignored(List<String> rules, String path) {
        boolean excluded = false;
        for (String rule : rules) {
            boolean negate = rule.startsWith("!");
            String pat = (negate ? rule.substring(1) : rule).replaceAll("^/+|/+$", "");
            String regex = globToRegex(pat);
            // a rule matching a folder excludes everything below it
            if (path.matches(regex) || path.matches(regex + "/.*")) {
                excluded = !negate;
            }
        }
        return excluded;
    }

    static String globToRegex(String glob) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            if (c == '*' && i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                b.append(".*");
                i++;
                if (i + 1 < glob.length() && glob.charAt(i + 1) == '/') {
                    i++;
                    b.append("/?");
                }
            } else if (c == '*') {
                b.append("[^/]*");
            } else if (c == '?') {
                b.append("[^/]");
            } else {
                b.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return b.toString();
    }

    static Dockerfile dockerfile() throws IOException {
        return new Dockerfile(Files.readString(ROOT.resolve("Dockerfile")));
    }

    @Test
    void stagesBasesAndEntrypoint() throws IOException {
        Dockerfile d = dockerfile();
        assertEquals(2, d.stages.size(), "a build stage and a runtime stage");
        Stage build = d.stage("build");
        assertNotNull(build, "a stage named build");
        assertEquals("nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04", build.image(), "build: the CUDA 11.8 toolkit");
        assertEquals("nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04", d.stages.get(1).image(),
                "runtime: the CUDA 11.8 + cuDNN 8 runtime base");
        String buildRuns = String.join(" ; ", d.all("RUN").stream().filter(i -> i.stage() == 0).map(Instr::raw).toList());
        for (String need : List.of("openjdk-17-jdk-headless", "maven", "tools/cuda/build-kernels.sh", "mvn -B -q package")) {
            assertTrue(buildRuns.contains(need), "build stage runs " + need + ": " + buildRuns);
        }
        String runtimeRuns = String.join(" ; ", d.all("RUN").stream().filter(i -> i.stage() == 1).map(Instr::raw).toList());
        assertTrue(runtimeRuns.contains("openjdk-17-jre-headless"), "a JRE in the runtime stage: " + runtimeRuns);

        List<Instr> entry = d.all("ENTRYPOINT");
        assertEquals(1, entry.size());
        assertEquals(List.of("java", "-jar", "/app/trainer.jar"), entry.get(0).args(), "exec-form entrypoint");
        assertEquals(1, entry.get(0).stage(), "in the runtime stage");
    }

    @Test
    void everyCopiedPathExistsAndReachesTheBuild() throws IOException {
        Dockerfile d = dockerfile();
        List<String> ignore = logicalLines(Files.readString(ROOT.resolve(".dockerignore")), "#");
        for (String must : List.of(".git", "target", "runs")) {
            assertTrue(ignored(ignore, must), ".dockerignore keeps " + must + " out of the context");
        }
        List<String> fromContext = new ArrayList<>();
        for (Instr copy : d.all("COPY")) {
            if (copy.flags().containsKey("from")) {
                continue;
            }
            List<String> srcs = copy.args().subList(0, copy.args().size() - 1);
            for (String src : srcs) {
                String rel = src.replaceAll("^\\./", "").replaceAll("/+$", "");
                assertTrue(Files.exists(ROOT.resolve(rel)), "COPY " + src + ": no such path in the project");
                assertFalse(ignored(ignore, rel), "COPY " + src + " is excluded by .dockerignore");
                fromContext.add(rel);
            }
        }
        assertTrue(fromContext.containsAll(List.of("pom.xml", "src", "tools", "configs")), fromContext.toString());
        // every project path the Maven build refers to comes into the build stage
        String pom = Files.readString(ROOT.resolve("pom.xml"));
        Matcher m = Pattern.compile("\\$\\{project\\.basedir}/([\\w./-]+)").matcher(pom);
        while (m.find()) {
            String p = m.group(1);
            assertTrue(fromContext.stream().anyMatch(c -> p.equals(c) || p.startsWith(c + "/")),
                    "the pom uses " + p + ", which the build stage does not copy");
            assertFalse(ignored(ignore, p), p + " is excluded by .dockerignore");
        }
        // the jar copied between stages is the one the shade plugin writes, and the entrypoint runs it
        Matcher fn = Pattern.compile("<finalName>([^<]+)</finalName>").matcher(pom);
        assertTrue(fn.find(), "the shade plugin's finalName");
        List<Instr> fromBuild = d.all("COPY").stream().filter(i -> "build".equals(i.flags().get("from"))).toList();
        assertEquals(1, fromBuild.size(), "one COPY --from=build");
        Instr jar = fromBuild.get(0);
        String built = d.stage("build").workdir() + "/target/" + fn.group(1) + ".jar";
        assertEquals(built, jar.args().get(0), "the jar Maven builds in the build stage's " + d.stage("build").workdir());
        assertEquals("/app/trainer.jar", jar.args().get(1));
        assertTrue(Files.isRegularFile(ROOT.resolve("tools/cuda/build-kernels.sh")));
    }

    /** The docker build / docker run command lines of a Markdown text (fenced code, continuations joined). */
    static List<String> dockerCommands(String markdown) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?s)```[a-z]*\\n(.*?)```").matcher(markdown);
        while (m.find()) {
            for (String l : logicalLines(m.group(1), "#")) {
                if (l.startsWith("docker build") || l.startsWith("docker run")) {
                    out.add(l);
                }
            }
        }
        return out;
    }

    static String section(String markdown, String heading) {
        int i = markdown.indexOf("\n" + heading + "\n");
        if (i < 0) {
            return null;
        }
        int end = markdown.indexOf("\n## ", i + heading.length() + 1);
        return markdown.substring(i, end < 0 ? markdown.length() : end);
    }

    @Test
    void readmeAndDocsShowTheSameWorkingCommands() throws IOException {
        List<String> docs = dockerCommands(Files.readString(ROOT.resolve("docs/gpu.md")));
        // -Dpdecnn.readme=<file> checks a draft README instead
        Path readmeFile = ROOT.resolve(System.getProperty("pdecnn.readme", "README.md"));
        String readme = section(Files.readString(readmeFile), "## GPU and Docker");
        if (readme == null) {
            fail(readmeFile + " has no section '## GPU and Docker': add it with the docker build and docker run lines "
                    + "of docs/gpu.md (section Docker)");
        }
        assertEquals(docs, dockerCommands(readme), "README's GPU and Docker commands are those of docs/gpu.md");
        assertTrue(readme.contains("docs/gpu.md"), "the README section points to docs/gpu.md");

        List<String> builds = docs.stream().filter(c -> c.startsWith("docker build")).toList();
        List<String> runs = docs.stream().filter(c -> c.startsWith("docker run")).toList();
        assertEquals(1, builds.size(), docs.toString());
        assertEquals(1, runs.size(), docs.toString());
        List<String> b = shellWords(builds.get(0));
        int t = b.indexOf("-t");
        assertTrue(t > 0, "docker build -t <tag>: " + b);
        String tag = b.get(t + 1);
        assertEquals(".", b.get(b.size() - 1), "builds the Dockerfile of the project root");

        List<String> r = shellWords(runs.get(0));
        int img = r.indexOf(tag);
        assertTrue(img > 0, "docker run uses the tag it built (" + tag + "): " + r);
        List<String> dockerOpts = r.subList(2, img), trainer = r.subList(img + 1, r.size());
        assertTrue(String.join(" ", dockerOpts).contains("--gpus all"), "docker run --gpus all: " + dockerOpts);
        List<String> mounts = new ArrayList<>();
        for (int i = 0; i < dockerOpts.size(); i++) {
            if (dockerOpts.get(i).equals("-v") || dockerOpts.get(i).equals("--volume")) {
                mounts.add(dockerOpts.get(i + 1).split(":")[1]);
            }
        }
        for (List<String> pair : List.of(List.of("--device", "0"), List.of("--model", "resnet32_global"))) {
            int i = trainer.indexOf(pair.get(0));
            assertTrue(i >= 0 && trainer.get(i + 1).equals(pair.get(1)), "trainer options include " + pair + ": " + trainer);
        }
        int dd = trainer.indexOf("--data-dir");
        assertTrue(dd >= 0, "the data comes from a mounted volume: " + trainer);
        String dataDir = trainer.get(dd + 1);
        assertTrue(mounts.stream().anyMatch(mt -> dataDir.equals(mt) || dataDir.startsWith(mt + "/")),
                "--data-dir " + dataDir + " lies in a mounted volume " + mounts);
        Dockerfile d = dockerfile();
        String runsDir = trainer.contains("--out") ? trainer.get(trainer.indexOf("--out") + 1)
                : d.stages.get(1).workdir() + "/runs";
        assertTrue(mounts.contains(runsDir), "the runs folder " + runsDir + " is a mounted volume: " + mounts);
        // the options reach the trainer's parser as they are (the image's entrypoint is java -jar trainer.jar)
        List<String> parse = new ArrayList<>(trainer);
        parse.add("--help");
        CliRunner.Result res = CliRunner.run(parse.toArray(String[]::new));
        assertEquals(0, res.code(), "trainer options " + trainer + ": " + res.err());
    }

    @Test
    void ignoreRules() {
        List<String> rules = List.of("target", "*.log", "docs/**/*.png", "!docs/keep.png", ".git");
        assertTrue(ignored(rules, "target"));
        assertTrue(ignored(rules, "target/trainer.jar"));
        assertFalse(ignored(rules, "src/target.txt"));
        assertTrue(ignored(rules, "build.log"));
        assertFalse(ignored(rules, "logs/build.log"));
        assertTrue(ignored(rules, "docs/a/b.png"));
        assertFalse(ignored(rules, "docs/keep.png"));
        assertEquals(List.of("-v", "$PWD/data:/data:ro", "x y"), shellWords("-v \"$PWD/data:/data:ro\" 'x y'"));
    }
}
