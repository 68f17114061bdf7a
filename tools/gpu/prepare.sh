#!/usr/bin/env bash
# Packs what a run on a lent GPU machine needs into .gpu/ (git-ignored), for tools/gpu/device-check.sh there.
# The GPU machines have the NVIDIA driver, CUDA 13 and PyTorch but no Java and no network, and a call carries at
# most 64 MiB, so this packs: a jlink'd Java 17 runtime (xz, ~17 MB), the trainer jar without OpenBLAS's natives
# (the CPU side falls back to the Java GEMM there; ~-12 MB), the test classes and JUnit's console launcher (the
# kernel equality suite and the training-step tests run from them), and the CIFAR-10 image archive of ../shared.
# Usage: tools/gpu/prepare.sh   (after `mvn -B package -DskipTests` and `mvn -B test-compile`)
set -euo pipefail
cd "$(dirname "$0")/../.."
G=.gpu
rm -rf "$G" && mkdir -p "$G"
[ -f target/trainer.jar ] && [ -d target/test-classes ] || { echo "build first: mvn -B package -DskipTests && mvn -B test-compile" >&2; exit 2; }

cp target/trainer.jar "$G/trainer.jar"
zip -q -d "$G/trainer.jar" 'org/bytedeco/openblas/linux-x86_64/*' >/dev/null || true
tar cf "$G/test-classes.tar" -C target test-classes

JUNIT=$(ls ~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.1/junit-platform-console-standalone-1.14.1.jar 2>/dev/null || true)
if [ -z "$JUNIT" ]; then
  mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 >/dev/null
  JUNIT=~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.1/junit-platform-console-standalone-1.14.1.jar
fi
cp "$JUNIT" "$G/junit-console.jar"

JRE=$(mktemp -d)
jlink --add-modules java.base,java.desktop,java.net.http,java.sql,jdk.management,java.logging,jdk.unsupported,java.management,java.xml,java.compiler \
  --strip-debug --no-man-pages --no-header-files --compress=0 --strip-native-debug-symbols=exclude-debuginfo-files \
  --output "$JRE/jre"
# Debian's JDK links the system image and font libraries, which the GPU image lacks: bundle them beside the JDK's
# own (its libraries look in $ORIGIN), and DejaVu fonts in lib/fonts (Java's fallback when fontconfig has none).
for l in libjpeg.so.62 liblcms2.so.2 libfreetype.so.6 libharfbuzz.so.0 libglib-2.0.so.0 libgraphite2.so.3 \
         libpng16.so.16 libbrotlidec.so.1 libbrotlicommon.so.1 libz.so.1 libpcre2-8.so.0 libgif.so.7; do
  f=$(ls /lib/x86_64-linux-gnu/$l /usr/lib/x86_64-linux-gnu/$l 2>/dev/null | head -1)
  [ -n "$f" ] && cp -L "$f" "$JRE/jre/lib/" || echo "note: $l not found here"
done
mkdir -p "$JRE/jre/lib/fonts"
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf "$JRE/jre/lib/fonts/" 2>/dev/null || true
tar cf - -C "$JRE" jre | xz -6 -T2 > "$G/jre.tar.xz"
rm -rf "$JRE"

DATA=../shared/data/cifar10-jpeg.tar.gz
[ -f "$DATA" ] && cp "$DATA" "$G/" || echo "note: $DATA not found; the CIFAR-10 epoch runs will be skipped"
du -sh "$G"/* | sort -h
du -sh "$G"
