package dev.pdecnn.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every relative link of README.md and docs/*.md (and the results/*.md they point into) names a file that exists
 * and, for a {@code #fragment} into a Markdown file, a heading of that file. Docs are moved between files often;
 * a dead link is the first thing a reader meets and nothing else would notice it.
 */
class MarkdownLinksTest {
    private static final Pattern LINK = Pattern.compile("!?\\[[^\\]]*\\]\\(([^)\\s]+)\\)");
    private static final Pattern HEADING = Pattern.compile("^#{1,6}\\s+(.*?)\\s*#*\\s*$");

    @Test
    void relativeLinksResolve() throws IOException {
        List<Path> files = new ArrayList<>(List.of(Path.of("README.md")));
        for (String dir : List.of("docs", "results")) {
            try (Stream<Path> s = Files.list(Path.of(dir))) {
                s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
            }
        }
        List<String> dead = new ArrayList<>();
        int checked = 0;
        for (Path file : files) {
            for (String target : links(Files.readString(file))) {
                if (target.matches("^[a-z][a-z0-9+.-]*:.*")) continue;   // http:, https:, mailto:
                checked++;
                int hash = target.indexOf('#');
                String path = hash < 0 ? target : target.substring(0, hash);
                Path resolved = path.isEmpty() ? file : file.toAbsolutePath().getParent().resolve(path).normalize();
                if (!Files.exists(resolved)) {
                    dead.add(file + ": " + target + " (no such file)");
                } else if (hash >= 0 && resolved.toString().endsWith(".md")
                        && !anchors(Files.readString(resolved)).contains(target.substring(hash + 1))) {
                    dead.add(file + ": " + target + " (no such heading in " + resolved.getFileName() + ")");
                }
            }
        }
        assertTrue(checked > 20, "only " + checked + " links found");
        assertEquals(List.of(), dead);
    }

    @Test
    void anchorsAreGitHubs() {
        Set<String> a = anchors("# A `devices --check`: does it?\n```\n# not a heading\n```\n## Same\n## Same\n"
                + "## Run folders, resuming and stopping\n## CIFAR-10 training check: ResNet32-Global row 2\n");
        assertEquals(Set.of("a-devices---check-does-it", "same", "same-1", "run-folders-resuming-and-stopping",
                "cifar-10-training-check-resnet32-global-row-2"), a);
    }

    /** Link targets outside fenced code blocks and inline code. */
    private static List<String> links(String markdown) {
        List<String> out = new ArrayList<>();
        boolean fenced = false;
        for (String line : markdown.split("\n")) {
            if (line.stripLeading().startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            if (fenced) continue;
            Matcher m = LINK.matcher(line.replaceAll("`[^`]*`", "``"));
            while (m.find()) out.add(m.group(1));
        }
        return out;
    }

    /** The fragment GitHub gives each heading: lower case, punctuation dropped, spaces to '-', repeats numbered. */
    static Set<String> anchors(String markdown) {
        Set<String> out = new HashSet<>();
        Map<String, Integer> seen = new HashMap<>();
        boolean fenced = false;
        for (String line : markdown.split("\n")) {
            if (line.stripLeading().startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            Matcher m = HEADING.matcher(line);
            if (fenced || !m.matches()) continue;
            String slug = m.group(1).toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N}_ -]", "").replace(' ', '-');
            int n = seen.merge(slug, 1, Integer::sum) - 1;
            out.add(n == 0 ? slug : slug + "-" + n);
        }
        return out;
    }
}
