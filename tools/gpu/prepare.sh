#!/usr/bin/env bash
# Packs what a run on a lent GPU machine needs into .gpu/ (git-ignored), for tools/gpu/device-check.sh there.
# The GPU machines have the NVIDIA driver, CUDA 13 and PyTorch but no Java and no network, and a call carries at
# most 64 MiB: the repository's tracked files plus this kit. So the kit holds only what the GPU run uses:
#   trainer.jar       without OpenBLAS's natives (the CPU side falls back to the Java GEMM there), without the
#                     kernels (they travel anyway as src/main/resources/kernels, which device-check.sh puts on the
#                     class path) and without the cuBLAS/cuDNN/cuRAND bindings' natives (CUDA 11 libraries the GPU
#                     machines lack; `devices` then lists them as not loadable, which they are there);
#   jre.tar.xz        a jlink'd Java 17 runtime of the modules the trainer and its libraries use;
#   test-classes.tar, junit-console.jar   the kernel equality suite and the training-step tests;
#   cifar10-sub.tar.gz  a CIFAR-10 subset of the first 2,000 training and 500 test images per class (25,000 of
#                     60,000 JPEGs from ../shared/data), enough for the 10-epoch fidelity run, ours and PyTorch's
#                     on the same images.
# It prints what the call would carry and fails above LIMIT_MIB (default 60, leaving room under the 64 MiB).
# Usage: tools/gpu/prepare.sh   (after `mvn -B package -DskipTests` and `mvn -B test-compile`)
set -euo pipefail
cd "$(dirname "$0")/../.."
G=.gpu
LIMIT_MIB=${LIMIT_MIB:-60}
rm -rf "$G" && mkdir -p "$G"
[ -f target/trainer.jar ] && [ -d target/test-classes ] || { echo "build first: mvn -B package -DskipTests && mvn -B test-compile" >&2; exit 2; }

cp target/trainer.jar "$G/trainer.jar"
# (without the OpenBLAS and oneDNN natives the CPU backend of the GPU checks runs its built-in kernels, each
# with one note on stderr)
zip -q -d "$G/trainer.jar" 'org/bytedeco/openblas/linux-x86_64/*' 'org/bytedeco/dnnl/linux-x86_64/*' \
  'org/bytedeco/opencl/linux-x86_64/*' 'kernels/*' 'lib/libJCublas*' 'lib/libJCudnn*' 'lib/libJCurand*' >/dev/null || true
tar cf "$G/test-classes.tar" -C target test-classes

JUNIT=$(ls ~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.1/junit-platform-console-standalone-1.14.1.jar 2>/dev/null || true)
if [ -z "$JUNIT" ]; then
  mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.1 >/dev/null
  JUNIT=~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.14.1/junit-platform-console-standalone-1.14.1.jar
fi
cp "$JUNIT" "$G/junit-console.jar"

JRE=$(mktemp -d)
# jdeps of target/classes: java.base, java.desktop (plots), java.net.http (fetchers), jdk.management; the libraries
# add jdk.unsupported (JavaCPP, Gson) and java.logging; java.desktop brings java.xml, jdk.management java.management
jlink --add-modules java.base,java.desktop,java.net.http,jdk.management,jdk.unsupported,java.logging \
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
if [ -f "$DATA" ]; then
  SUB=$(mktemp -d)
  # file names are 0000.jpg.. per class: train < 2000, test < 500
  tar xzf "$DATA" -C "$SUB" --wildcards 'train/*/[01][0-9][0-9][0-9].jpg' 'test/*/0[0-4][0-9][0-9].jpg'
  tar czf "$G/cifar10-sub.tar.gz" -C "$SUB" train test
  echo "CIFAR-10 subset: $(find "$SUB/train" -name '*.jpg' | wc -l) training, $(find "$SUB/test" -name '*.jpg' | wc -l) test images"
  rm -rf "$SUB"
else
  echo "note: $DATA not found; the CIFAR-10 runs will be skipped"
fi

# what a device call carries: tracked files and untracked files git does not ignore, plus the kit
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
kit=$(du -sb "$G" | cut -f1)
du -sh "$G"/* | sort -h
awk -v t="$tree" -v k="$kit" -v lim="$LIMIT_MIB" 'BEGIN {
  printf "a device call carries %.1f MiB: the working tree %.1f MiB + .gpu %.1f MiB (limit %d MiB here, 64 MiB there)\n",
         (t + k) / 1048576, t / 1048576, k / 1048576, lim
  exit (t + k > lim * 1048576) ? 1 : 0 }' || { echo "prepare.sh: the kit is too large for a device call" >&2; exit 1; }
