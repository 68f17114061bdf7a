#!/usr/bin/env bash
# The GPU checks, run in one call on a lent GPU machine (repository root, .gpu/ from tools/gpu/prepare.sh carried
# along). The default plan (at most 9.5 minutes; the deeper suites last, so a short lease still gets the verdict,
# the speed and the fidelity) is part B of the GPU issue:
#   env       nvidia-smi, the trainer's `devices`;
#   check     `devices --check` (every kernel family, training steps, graph replay, TF32), then the same through
#             the PTX JIT (PDECNN_CUDA_FORCE_PTX=1);
#   kernels   the kernel equality suite (src/test/java/dev/pdecnn/cuda) on GPU 0, TF32 included;
#   steps     one SGD step of every model vs the CPU backend (small and full-size ResNets), TF32 step, device-resident
#             step accounting, no leak over 100 steps;
#   graphs    GraphReplayTest on GPU 0 (16 models, 20 steps, bit for bit) and bench with graphs off and on;
#   bench     ours (graphs on, TF32 convolutions) at batch 128 and 32;
#   torch     tools/pytorch/reference.py bench --device cuda (eager, cuDNN, TF32 allowed) at batch 128 and 32;
#   fidelity  Table 2 row 2 for 10 epochs (cosine over 10) on the CIFAR-10 subset, ours and the PyTorch reference;
#             FIDELITY_EPOCHS overrides the 10.
# More steps: profile sync tf32 tf32bench ptx resident full train train5 (see the case list below).
# Every step has its own time limit and the whole script a deadline (DEADLINE seconds, default 560), so one failing
# or slow step never costs the others. The log goes to $OUT/log.txt; the runs' metrics to $OUT.
# Usage (device tool): bash tools/gpu/device-check.sh [steps...]
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
T0=$(date +%s)
DEADLINE=${DEADLINE:-560}
G=.gpu
STEPS=${*:-env check bench torch fidelity kernels steps graphs}

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
# the kit's jar leaves the kernels out: they come from the working tree's src/main/resources (prepare.sh)
CP=$JAR:src/main/resources:/tmp/tc/test-classes
TRAINER=("$JAVA" -cp "$JAR:src/main/resources" dev.pdecnn.cli.Main)
DATA=$G/cifar10-sub.tar.gz
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
      ${TRAINER[*]} devices" ;;
  check)
    TAIL=100 run check 90 "${TRAINER[@]}" devices --check --device 0
    PDECNN_CUDA_FORCE_PTX=1 TAIL=20 run check-ptx 90 "${TRAINER[@]}" devices --check --device 0 ;;
  kernels)
    TAIL=25 run kernels 150 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-package dev.pdecnn.cuda ;;
  steps)
    TAIL=40 run steps-small 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest \
      --select-class dev.pdecnn.gpu.NoLeakTest --select-class dev.pdecnn.gpu.DeviceResidentStepTest \
      --select-class dev.pdecnn.gpu.Tf32StepTest
    TAIL=40 run steps-full 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda -Dpdecnn.steps.full=true "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest ;;
  bench)
    PDECNN_CUDA_GRAPHS=1 run bench-ours 100 "${TRAINER[@]}" bench --device 0 --precision tf32 --batch 128 --warmup 10 --reps 30 resnet32_global resnet32 global
    PDECNN_CUDA_GRAPHS=1 run bench-ours-b32 60 "${TRAINER[@]}" bench --device 0 --precision tf32 --batch 32 --warmup 10 --reps 30 resnet32_global resnet32 ;;
  tf32)
    TAIL=30 run tf32-kernels 120 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" \
      --select-class dev.pdecnn.cuda.ConvKernelTest --select-class dev.pdecnn.cuda.DenseLossKernelTest \
      --select-class dev.pdecnn.gpu.Tf32StepTest ;;
  tf32bench)
    # the bench step runs --precision tf32; this is the fp32 baseline beside it
    run bench-ours-fp32 100 "${TRAINER[@]}" bench --device 0 --precision fp32 --batch 128 --warmup 10 --reps 30 resnet32_global resnet32 ;;
  ptx)
    PDECNN_CUDA_FORCE_PTX=1 TAIL=25 run kernels-ptx 150 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-package dev.pdecnn.cuda
    PDECNN_CUDA_FORCE_PTX=1 TAIL=40 run steps-ptx 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest ;;
  resident)
    TAIL=30 run resident-async 60 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.DeviceResidentStepTest
    PDECNN_CUDA_SYNC=1 TAIL=30 run resident-synced 60 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.DeviceResidentStepTest ;;
  graphs)
    # graphs are opt-in on a real GPU until this check has passed on one (KernelRunner.graphsByDefault)
    PDECNN_CUDA_GRAPHS=1 TAIL=30 run graphs-replay 120 "$JAVA" -Dpdecnn.cuda.runner=jcuda "${JUNIT[@]}" --select-class dev.pdecnn.gpu.GraphReplayTest
    PDECNN_CUDA_GRAPHS=0 run bench-eager-b32 60 "${TRAINER[@]}" bench --device 0 --batch 32 --warmup 10 --reps 30 \
      resnet32_global resnet32
    PDECNN_CUDA_GRAPHS=1 run bench-graphs-b32 60 "${TRAINER[@]}" bench --device 0 --batch 32 --warmup 10 --reps 30 resnet32_global resnet32 ;;
  full)
    TAIL=30 run steps-full 100 "$JAVA" -Dpdecnn.cuda.runner=jcuda -Dpdecnn.steps.full=true "${JUNIT[@]}" \
      --select-class dev.pdecnn.gpu.TrainStepEquivalenceTest ;;
  profile)
    # per-operation GPU time (each backend call followed by a synchronisation), for finding the slow kernels
    TAIL=60 run profile 90 "$JAVA" -Dpdecnn.bench.profile=true -cp "$JAR:src/main/resources" dev.pdecnn.cli.Main bench --device 0 --batch 128 --warmup 5 --reps 10 \
      resnet32 resnet32_global ;;
  sync)
    PDECNN_CUDA_SYNC=1 run bench-ours-synced 60 "${TRAINER[@]}" bench --device 0 --batch 128 --warmup 5 --reps 20 resnet32_global resnet32 ;;
  torch)
    PYTHONUNBUFFERED=1 run bench-pytorch 100 python3 tools/pytorch/reference.py bench resnet32_global resnet32 global \
      --device cuda --batch 128 --warmup 10 --reps 30
    PYTHONUNBUFFERED=1 run bench-pytorch-b32 60 python3 tools/pytorch/reference.py bench resnet32_global resnet32 \
      --device cuda --batch 32 --warmup 10 --reps 30 ;;
  train5)
    # five epochs of each config in $TRAIN5 (default row 2), split by --stop-after 2 / --resume (checkpoint and
    # resume through the GPU)
    if [ -f $DATA ]; then
      mkdir -p /tmp/cifar10 && [ -d /tmp/cifar10/train ] || tar xzf $DATA -C /tmp/cifar10
      for cfg in ${TRAIN5:-row2_resnet32_global}; do
        TAIL=4 run "train5-$cfg-part1" 120 "${TRAINER[@]}" --config configs/cifar10/$cfg.yaml --epochs 5 \
          --stop-after 2 --device 0 --data-dir /tmp/cifar10 --out /tmp/runs --name "${cfg}_5ep"
        TAIL=8 run "train5-$cfg-resume" 150 "${TRAINER[@]}" --resume "/tmp/runs/${cfg}_5ep" --device 0 \
          --data-dir /tmp/cifar10
        for f in metrics.csv summary.json; do
          [ -f "/tmp/runs/${cfg}_5ep/$f" ] && cp "/tmp/runs/${cfg}_5ep/$f" "$OUT/${cfg}_5ep-$f"
        done
      done
    fi ;;
  train)
    if [ -f $DATA ]; then
      mkdir -p /tmp/cifar10 && [ -d /tmp/cifar10/train ] || tar xzf $DATA -C /tmp/cifar10
      for cfg in row2_resnet32_global row1_resnet32; do
        TAIL=8 run "train-$cfg" 150 "${TRAINER[@]}" --config configs/cifar10/$cfg.yaml --epochs 1 --device 0 \
          --data-dir /tmp/cifar10 --out /tmp/runs --name "$cfg"
        for f in /tmp/runs/$cfg/metrics.csv /tmp/runs/$cfg/summary.json; do
          [ -f "$f" ] && cp "$f" "$OUT/$cfg-$(basename "$f")"
        done
      done
    else
      say "== train: SKIPPED (no $DATA)"
    fi ;;
  fidelity)
    # Table 2 row 2, cosine over FIDELITY_EPOCHS, batch 32, on the same images: ours (graphs and TF32 on, the
    # defaults proposed once `check` passes) and the PyTorch reference (cuDNN, TF32 allowed, PyTorch's default)
    E=${FIDELITY_EPOCHS:-10}
    if [ -f $DATA ]; then
      mkdir -p /tmp/cifar10 && [ -d /tmp/cifar10/train ] || tar xzf $DATA -C /tmp/cifar10
      PDECNN_CUDA_GRAPHS=1 TAIL=14 run fidelity-ours 200 "${TRAINER[@]}" --config configs/cifar10/row2_resnet32_global.yaml \
        --epochs $E --device 0 --precision tf32 --data-dir /tmp/cifar10 --out /tmp/runs --name fidelity
      for f in metrics.csv summary.json; do
        [ -f /tmp/runs/fidelity/$f ] && cp /tmp/runs/fidelity/$f "$OUT/fidelity-ours-$f"
      done
      PYTHONUNBUFFERED=1 TAIL=14 run fidelity-torch 240 python3 tools/pytorch/train_reference.py \
        --config configs/cifar10/row2_resnet32_global.yaml --epochs $E --device cuda --data-dir /tmp/cifar10 \
        --metrics "$OUT/fidelity-torch-metrics.csv"
    else
      say "== fidelity: SKIPPED (no $DATA)"
    fi ;;
  *) say "unknown step $step" ;;
  esac
done
say "== done in $(( $(date +%s) - T0 )) s"
grep -E "^== |tests (successful|failed|skipped|aborted)|^\| |img/s" "$LOG" | grep -v "^| model\|^|---" > "$OUT/summary.txt"
cat "$OUT/summary.txt"
