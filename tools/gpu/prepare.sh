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
tar cf - -C "$JRE" jre | xz -6 -T2 > "$G/jre.tar.xz"
rm -rf "$JRE"

DATA=../shared/data/cifar10-jpeg.tar.gz
[ -f "$DATA" ] && cp "$DATA" "$G/" || echo "note: $DATA not found; the CIFAR-10 epoch runs will be skipped"
du -sh "$G"/* | sort -h
du -sh "$G"
