#!/usr/bin/env bash
# The GPU checks of issue 5, run in one call on a lent GPU machine (repository root, .gpu/ from
# tools/gpu/prepare.sh carried along):
#   1. the machine: nvidia-smi, the trainer's `devices`;
#   2. the kernel equality suite (src/test/java/dev/pdecnn/cuda) on GPU 0 against the CPU reference;
#   3. training-step tests on GPU 0: one SGD step of every model vs the CPU backend (small and full-size ResNets),
#      device-resident step accounting, no leak over 100 steps;
#   4. `bench --device 0` (our GPU backend) and tools/pytorch/reference.py bench --device cuda (eager PyTorch,
#      cuDNN) in the same call, batch 128;
#   5. one epoch of resnet32_global and of resnet32 on the CIFAR-10 images, --device 0;
#   6. (step graphs) CUDA graphs: GraphReplayTest on GPU 0 (replayed steps bit for bit equal to eager steps, all 16
#      models, 20 steps, a second batch shape, evaluation) and bench with graphs on and off (PDECNN_CUDA_GRAPHS=0).
# Every step has its own time limit and the whole script a deadline (DEADLINE seconds, default 540), so one
# failing or slow step never costs the others. The log goes to $OUT/log.txt; the runs' metrics to $OUT.
# Usage (device tool): bash tools/gpu/device-check.sh [steps...]
#   steps: env kernels steps (step tests) resident (DeviceResidentStepTest, async and synced) full (full-size step
#   equality) bench torch train train5 profile (per-op GPU time) sync (bench, a synchronisation after every launch)
#   graphs (CUDA graph replay vs eager, and bench with graphs off)
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
T0=$(date +%s)
DEADLINE=${DEADLINE:-540}
G=.gpu
STEPS=${*:-env kernels steps bench torch profile train}

say() { echo "$@" | tee -a "$LOG"; }
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
# run NAME LIMIT CMD...: runs CMD with a time limit (cut to what is left before the deadline), logs all output,
# prints its tail and the exit code.
run() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  if [ "$l" -lt 15 ]; then say "== $name: SKIPPED (deadline: ${l}s left)"; return 0; fi
  [ "$limit" -gt "$l" ] && limit=$l
  say "== $name (limit ${limit}s) $(date +%T)"
  local s; s=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" > "$OUT/.step" 2>&1
  local rc=$?
  cat "$OUT/.step" >> "$LOG"
  tail -n "${TAIL:-12}" "$OUT/.step"
  say "== $name: rc=$rc, $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $s}") s"
  rm -f "$OUT/.step"
}

mkdir -p /tmp/jre /tmp/tc
tar xJf $G/jre.tar.xz -C /tmp/jre && tar xf $G/test-classes.tar -C /tmp/tc || { say "cannot unpack .gpu"; exit 2; }
JAVA=/tmp/jre/jre/bin/java
# the image has fontconfig but no fonts: point it at the DejaVu fonts packed with the runtime (plots need a font)
mkdir -p /tmp/fc-cache
cat > /tmp/fonts.conf <<FC
<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>/tmp/jre/jre/lib/fonts</dir><cachedir>/tmp/fc-cache</cachedir></fontconfig>
FC
export FONTCONFIG_FILE=/tmp/fonts.conf
JAR=$G/trainer.jar
CP=$JAR:/tmp/tc/test-classes
# JUnit's console launcher; JVM options (-D...) go before it, selectors after
JUNIT=(-jar $G/junit-console.jar execute --class-path "$CP" --disable-banner --details=summary --disable-ansi-colors)
export PDECNN_GPU_POOL=${PDECNN_GPU_POOL:-16g}
# a JVM crash report (native code) comes back with the log
export JAVA_TOOL_OPTIONS="-XX:ErrorFile=$OUT/hs_err_%p.log"

for step in $STEPS; do
  case $step in
  env)
    run env 30 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv;
      nproc; $JAVA -version 2>&1 | head -1; python3 -c 'import torch; print(\"torch\", torch.__version__, torch.backends.cudnn.version())';
      $JAVA -jar $JAR devices" ;;
  kernels)
    TAIL=25 run kernels 150 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-package dev.pdecnn.cuda ;;
  steps)
    TAIL=40 run steps-small 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest \
      --select-class dev.pdecnn.gpu.NoLeakTest --select-class dev.pdecnn.gpu.DeviceResidentStepTest
    TAIL=40 run steps-full 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda -Dpdecnn.steps.full=true "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest ;;
  bench)
    run bench-ours 100 "$JAVA" -jar $JAR bench --device 0 --batch 128 --warmup 10 --reps 30 resnet32_global resnet32 global
    run bench-ours-b32 60 "$JAVA" -jar $JAR bench --device 0 --batch 32 --warmup 10 --reps 30 resnet32_global resnet32 ;;
  resident)
    TAIL=30 run resident-async 60 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.DeviceResidentStepTest
    PDECNN_CUDA_SYNC=1 TAIL=30 run resident-synced 60 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.DeviceResidentStepTest ;;
  graphs)
    # graphs are opt-in on a real GPU until this check has passed on one (KernelRunner.graphsByDefault)
    PDECNN_CUDA_GRAPHS=1 TAIL=30 run graphs-replay 120 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.GraphReplayTest
    PDECNN_CUDA_GRAPHS=0 run bench-eager-b32 60 "$JAVA" -jar $JAR bench --device 0 --batch 32 --warmup 10 --reps 30 \
      resnet32_global resnet32
    PDECNN_CUDA_GRAPHS=1 run bench-graphs-b32 60 "$JAVA" -jar $JAR bench --device 0 --batch 32 --warmup 10 --reps 30 resnet32_global resnet32 ;;
  full)
    TAIL=30 run steps-full 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda -Dpdecnn.steps.full=true "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest ;;
  profile)
    # per-operation GPU time (each backend call followed by a synchronisation), for finding the slow kernels
    TAIL=60 run profile 90 "$JAVA" -Dbench.profile=true -jar $JAR bench --device 0 --batch 128 --warmup 5 --reps 10 \
      resnet32 resnet32_global ;;
  sync)
    PDECNN_CUDA_SYNC=1 run bench-ours-synced 60 "$JAVA" -jar $JAR bench --device 0 --batch 128 --warmup 5 --reps 20 resnet32_global resnet32 ;;
  torch)
    PYTHONUNBUFFERED=1 run bench-pytorch 100 python3 tools/pytorch/reference.py bench resnet32_global resnet32 global \
      --device cuda --batch 128 --warmup 10 --reps 30
    PYTHONUNBUFFERED=1 run bench-pytorch-b32 60 python3 tools/pytorch/reference.py bench resnet32_global resnet32 \
      --device cuda --batch 32 --warmup 10 --reps 30 ;;
  train5)
    # five epochs of each config in $TRAIN5 (default row 2), split by --stop-after 2 / --resume (checkpoint and
    # resume through the GPU)
    if [ -f $G/cifar10-jpeg.tar.gz ]; then
      mkdir -p /tmp/cifar10 && [ -d /tmp/cifar10/train ] || tar xzf $G/cifar10-jpeg.tar.gz -C /tmp/cifar10
      for cfg in ${TRAIN5:-row2_resnet32_global}; do
        TAIL=4 run "train5-$cfg-part1" 120 "$JAVA" -jar $JAR --config configs/cifar10/$cfg.yaml --epochs 5 \
          --stop-after 2 --device 0 --data-dir /tmp/cifar10 --out /tmp/runs --name "${cfg}_5ep"
        TAIL=8 run "train5-$cfg-resume" 150 "$JAVA" -jar $JAR --resume "/tmp/runs/${cfg}_5ep" --device 0 \
          --data-dir /tmp/cifar10
        for f in metrics.csv summary.json; do
          [ -f "/tmp/runs/${cfg}_5ep/$f" ] && cp "/tmp/runs/${cfg}_5ep/$f" "$OUT/${cfg}_5ep-$f"
        done
      done
    fi ;;
  train)
    if [ -f $G/cifar10-jpeg.tar.gz ]; then
      mkdir -p /tmp/cifar10 && [ -d /tmp/cifar10/train ] || tar xzf $G/cifar10-jpeg.tar.gz -C /tmp/cifar10
      for cfg in row2_resnet32_global row1_resnet32; do
        TAIL=8 run "train-$cfg" 150 "$JAVA" -jar $JAR --config configs/cifar10/$cfg.yaml --epochs 1 --device 0 \
          --data-dir /tmp/cifar10 --out /tmp/runs --name "$cfg"
        for f in /tmp/runs/$cfg/metrics.csv /tmp/runs/$cfg/summary.json; do
          [ -f "$f" ] && cp "$f" "$OUT/$cfg-$(basename "$f")"
        done
      done
    else
      say "== train: SKIPPED (no $G/cifar10-jpeg.tar.gz)"
    fi ;;
  *) say "unknown step $step" ;;
  esac
done
say "== done in $(( $(date +%s) - T0 )) s"
grep -E "^== |tests (successful|failed|skipped|aborted)|^\| |img/s" "$LOG" | grep -v "^| model\|^|---" > "$OUT/summary.txt"
cat "$OUT/summary.txt"
