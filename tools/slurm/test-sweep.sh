#!/usr/bin/env bash
# Integration test of `sweep run --executor slurm` on a real Slurm cluster (tools/slurm/cluster.sh: slurmctld and
# slurmd on this machine). A tiny MNIST sweep (2 configs x 2 seeds, 2 epochs, 12,000 training images) is
# submitted through sbatch as one job array. While one array task is in the middle of its first epoch it is sent
# `scontrol requeue`, which is what a preemption does: Slurm sends SIGTERM to the task's processes, the trainer
# finishes its step, writes a mid-epoch checkpoint and exits; the requeued task resumes from that checkpoint.
# Then:
#   - every cell finished both epochs;
#   - the requeued cell did run twice (its log shows the stop and the resume);
#   - its final checkpoint's tensors and its metrics (all but the time columns) equal, bit for bit, those of the
#     same cell run without interruption by `sweep run --executor local`;
#   - `sweep status` reports four finished cells and `report` aggregates them into 2 rows of 2 seeds.
# The cluster is started here and stopped at the end, also on failure.
#
# Usage: tools/slurm/test-sweep.sh   (root; needs target/trainer.jar and ../shared/data/mnist; installs
#        slurm-wlm and munge when missing). Takes about 2-3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
JAR=${PDECNN_JAR:-$ROOT/target/trainer.jar}   # PDECNN_JAR: test another build
DATA=${PDECNN_MNIST_DIR:-$ROOT/../shared/data/mnist}
[ -f "$JAR" ] || { echo "test-sweep: $JAR missing; run mvn -B -q package -DskipTests first" >&2; exit 1; }
[ -d "$DATA" ] || { echo "test-sweep: MNIST not found at $DATA" >&2; exit 1; }
DATA=$(cd "$DATA" && pwd)

WORK=$(mktemp -d /tmp/pdecnn-slurm-test.XXXXXX)
CLUSTER=$WORK/cluster
fail() { echo "test-sweep: FAIL: $*" >&2; exit 1; }
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "---- logs of the failed test ($WORK)" >&2
    for f in "$WORK"/slurm/logs/* "$CLUSTER"/log/*; do
      [ -f "$f" ] && { echo "== $f" >&2; tail -25 "$f" >&2; }
    done
    squeue >&2 2>/dev/null || true
  fi
  tools/slurm/cluster.sh stop "$CLUSTER" || true
  [ $rc -eq 0 ] && rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

tools/slurm/cluster.sh install
tools/slurm/cluster.sh start "$CLUSTER"
export SLURM_CONF=$CLUSTER/slurm.conf

# 2 configs x 2 seeds, 2 epochs; 12,000 training images make an epoch of a C=1 model last a few seconds, long
# enough to requeue a task in the middle of it; checkpoint_every 0: only the signal writes a mid-epoch checkpoint.
cat > "$WORK/tiny.yaml" <<EOF
name: tiny
configs:
  - configs/mnist_pde_const_c1.yaml
  - configs/mnist_cnn_c1.yaml
seeds: [1, 2]
epochs: 2
train:
  data_dir: $DATA
  limit_train: 12000
  limit_test: 1000
EOF

java -jar "$JAR" sweep run "$WORK/tiny.yaml" --executor slurm --out "$WORK/slurm" --dry-run > "$WORK/dry.txt"
grep -q -- '--array=0-3' "$WORK/dry.txt" || fail "dry run has no --array=0-3 line: $(cat "$WORK/dry.txt")"
grep -q -- '--mem=4G' "$WORK/dry.txt" || fail "dry run requests no memory per task: $(cat "$WORK/dry.txt")"
[ -z "$(squeue -h)" ] || fail "the dry run submitted a job"

# --mem 1G: the tiny cells need little, and the CI node (RealMemory 90% of its RAM) may have less than 2 x 4G
java -jar "$JAR" sweep run "$WORK/tiny.yaml" --executor slurm --out "$WORK/slurm" --cpus-per-task 1 \
    --max-parallel 2 --time 20:00 --mem 1G | tee "$WORK/submit.txt"
JOB=$(tr -dc '0-9\n' < "$WORK/slurm/slurm-jobs.txt" | tail -1)
[ -n "$JOB" ] || fail "no job id recorded in slurm-jobs.txt"
echo "submitted job array $JOB"

# The plan's first cell is array task 0; wait until its trainer reports progress in epoch 1, then requeue it.
CELL0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cells"][0]["id"])' "$WORK/slurm/plan.json")
deadline=$((SECONDS + 240))
while :; do
  log=$(ls "$WORK"/slurm/logs/slurm-"${JOB}"_0.out 2>/dev/null || true)
  # a line at 10% or more: some steps are done and the epoch is not
  if [ -n "$log" ] && grep -Eq 'epoch 1/2 +[1-9][0-9]% ' "$log"; then
    pct=$(grep -Eo 'epoch 1/2 +[1-9][0-9]%' "$log" | tail -1 | grep -Eo '[0-9]+%$')
    echo "task 0 ($CELL0) is in epoch 1 at $pct: scontrol requeue ${JOB}_0"
    break
  fi
  [ $SECONDS -lt $deadline ] || fail "task 0 never reported progress in epoch 1"
  sleep 0.3
done
scontrol requeue "${JOB}_0"
# a requeued task waits for a begin time about 2 minutes ahead; start it now once it is pending again
for _ in $(seq 1 100); do
  st=$(squeue -h -j "${JOB}_0" -o '%t' 2>/dev/null || true)
  [ "$st" = PD ] && break
  sleep 0.2
done
scontrol update JobId="${JOB}_0" StartTime=now || true

deadline=$((SECONDS + 420))
while [ -n "$(squeue -h -j "$JOB" 2>/dev/null)" ]; do
  [ $SECONDS -lt $deadline ] || fail "the job array did not finish within 7 minutes"
  sleep 2
done
echo "job array $JOB finished"

log0="$WORK/slurm/logs/slurm-${JOB}_0.out"
grep -q 'resume with' "$log0" || fail "task 0 did not write a mid-epoch checkpoint when requeued ($log0)"
first_stop=$(grep -n 'resume with' "$log0" | head -1 | cut -d: -f1)
first_e2=$(grep -nE 'epoch 2/2 ' "$log0" | head -1 | cut -d: -f1)
[ -z "$first_e2" ] || [ "$first_stop" -lt "$first_e2" ] || fail "task 0 was not stopped in its first epoch ($log0)"
echo "task 0's log around the requeue:"; grep -E 'stopped|resum|SIGTERM|checkpoint' "$log0" | head -6 | sed 's/^/  /'
java -jar "$JAR" sweep status "$WORK/slurm" | tee "$WORK/status.txt"

# The same sweep without interruption, on this machine
java -jar "$JAR" sweep run "$WORK/tiny.yaml" --executor local --workers 2 --out "$WORK/local" > "$WORK/local.txt" 2>&1 \
  || { cat "$WORK/local.txt" >&2; fail "the local sweep failed"; }

python3 - "$WORK/slurm" "$WORK/local" <<'PY'
import csv, json, struct, sys, os
a, b = sys.argv[1], sys.argv[2]
plan = json.load(open(os.path.join(a, "plan.json")))
assert len(plan["cells"]) == 4, plan
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}, header
def metrics(path):
    rows = list(csv.DictReader(open(path)))
    timed = [k for k in rows[0] if "sec" in k or "time" in k or "img" in k or "wall" in k]
    return [{k: v for k, v in r.items() if k not in timed} for r in rows]
for cell in plan["cells"]:
    ra, rb = os.path.join(a, cell["run"]), os.path.join(b, cell["run"])
    ta, ha = tensors(os.path.join(ra, "last.safetensors"))
    tb, hb = tensors(os.path.join(rb, "last.safetensors"))
    assert ta.keys() == tb.keys(), cell["id"]
    diff = [k for k in ta if ta[k] != tb[k]]
    assert not diff, f"{cell['id']}: tensors differ from the uninterrupted run: {diff[:5]}"
    ma, mb = metrics(os.path.join(ra, "metrics.csv")), metrics(os.path.join(rb, "metrics.csv"))
    assert len(ma) == 2, f"{cell['id']}: {len(ma)} epochs in metrics.csv"
    assert ma == mb, f"{cell['id']}: metrics differ:\n{ma}\n{mb}"
    print(f"{cell['id']}: {len(ta)} tensors and {len(ma)} metrics rows equal the uninterrupted run")
PY

java -jar "$JAR" report "$WORK/slurm" -o "$WORK/report" | tee "$WORK/report.txt"
[ -s "$WORK/report.md" ] && [ -s "$WORK/report.csv" ] && [ -s "$WORK/report.png" ] || fail "report files missing"
python3 - "$WORK/report.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 2, f"report: {len(rows)} groups, expected 2 (one per config): {rows}"
for r in rows:
    assert (r["seeds_finished"], r["seeds_planned"]) == ("2", "2"), f"report group not aggregated over 2 seeds: {r}"
print("report: 2 groups of 2 seeds each")
PY
echo "test-sweep: OK (requeued task resumed bit-exactly; 4 cells reported)"
