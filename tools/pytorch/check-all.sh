#!/usr/bin/env bash
# Replays one float64 training step of every model config (Table 2 rows 1-8, the exact-zero diffusion variant of row 7,
# the MNIST models of Table 1) in the independent PyTorch
# implementation (tools/pytorch/reference.py) and compares loss, logits, every gradient, the BN running
# statistics, eval-mode logits and the parameters after one SGD step. Both sides compute in float64, so the only
# differences are summation order: ~1e-13 relative is typical; 1e-9 leaves four orders of margin and still fails
# on any real difference (a wrong sign, index, boundary or variance convention shows up at 1e-4 or more).
# Then, per row, a real checkpoint (30 float32 SGD steps, ExportCheckpoint.java) is loaded into the PyTorch model with
# load_state_dict(strict=True) and its evaluation-mode logits compared with ours (float64 at 1e-9, float32 at 1e-3).
# Needs target/trainer.jar (mvn package) and PyTorch for the system Python (Debian: python3-torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/usr/bin/python3}
JAR=${JAR:-target/trainer.jar}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# compile the exporter once instead of once per config
javac -d "$tmp" -cp "$JAR" tools/pytorch/ExportStep.java tools/pytorch/ExportCheckpoint.java
fail=0
for cfg in configs/cifar10/*.yaml configs/mnist_*.yaml; do
  step="$tmp/$(basename "$cfg" .yaml).safetensors"
  java -cp "$JAR:$tmp" ExportStep "$cfg" "$step" 4 3 >/dev/null
  echo "-- $cfg"
  "$PY" tools/pytorch/reference.py check "$step" --config "$cfg" --tol 1e-9 || fail=1
done
for cfg in configs/cifar10/*.yaml configs/mnist_*.yaml; do
  base="$tmp/$(basename "$cfg" .yaml)"
  java -cp "$JAR:$tmp" ExportCheckpoint "$cfg" "$base.ckpt.safetensors" "$base.inputs.safetensors" 30 3 >/dev/null
  echo "-- $cfg: strict load"
  "$PY" tools/pytorch/reference.py load "$base.ckpt.safetensors" --config "$cfg" \
      --inputs "$base.inputs.safetensors" --tol 1e-9 || fail=1
done
exit $fail
