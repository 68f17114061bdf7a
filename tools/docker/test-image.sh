#!/usr/bin/env bash
# Builds the committed Dockerfile with a Docker engine of its own and runs the image the way users do
# (docs/gpu.md, section Docker). Needs root and apt (installs docker.io and debootstrap when missing); elsewhere it
# skips with a message, unless PDECNN_REQUIRE_DOCKER=1 (CI), which makes a skip an error.
#
#   1. dockerd with a temporary data root and socket (stopped and removed at the end, whatever happens)
#   2. the base image debian:bookworm-slim made locally (no image registry is needed): debootstrap --variant=minbase
#      bookworm, slimmed like Debian's slim images, docker import. PDECNN_DOCKER_BASE=FILE.tar reuses a saved
#      root file system tarball (and saves one there when FILE.tar does not exist yet).
#   3. the host's extra CA certificates (/usr/local/share/ca-certificates/*.crt) copied into docker/ca-certificates/
#      for the build (removed again at the end), then docker build of the Dockerfile as committed (classic builder)
#   4. in containers: --help; devices (no NVIDIA driver here: a clean answer, exit 0); the image's size (< 400 MB),
#      user, labels and NVIDIA variables; a one-epoch MNIST run on the CPU with the MNIST files mounted read-only
#      and a host run folder mounted writable, run as a non-root host uid that must own and read the results;
#      --device 0 failing with one line and exit 2; docker stop (SIGTERM) during training leaving a mid-epoch
#      checkpoint (exit 143), which --resume in a new container trains to the end.
# Env: PDECNN_MNIST (default ../shared/data/mnist, gzip IDX files), PDECNN_DOCKER_KEEP=1 keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)
step() { echo "== docker [$(( $(date +%s) - START )) s] $*"; }
fail() { echo "docker test FAILED: $*" >&2; exit 1; }

skip() {
  if [ "${PDECNN_REQUIRE_DOCKER:-0}" = 1 ]; then
    fail "cannot run Docker here ($*) but PDECNN_REQUIRE_DOCKER=1"
  fi
  echo "== docker: SKIPPED ($*); run as root on Debian/Ubuntu to build and test the image"
  exit 0
}
[ "$(id -u)" = 0 ] || skip "not root: dockerd needs root"
command -v apt-get > /dev/null 2>&1 || skip "no apt-get to install docker.io and debootstrap"

# the shared data next to the checkout (or, in a git worktree, next to the main checkout)
MAIN=$(dirname "$(cd "$(git rev-parse --git-common-dir 2> /dev/null || echo .git)" && pwd)")
MNIST=${PDECNN_MNIST:-}
for d in "$ROOT/../shared/data/mnist" "$MAIN/../shared/data/mnist"; do
  [ -z "$MNIST" ] && [ -e "$d/train-images-idx3-ubyte.gz" ] && MNIST=$d
done
[ -n "$MNIST" ] && { [ -f "$MNIST/train-images-idx3-ubyte.gz" ] || [ -f "$MNIST/train-images-idx3-ubyte" ]; } \
  || fail "no MNIST files in ../shared/data/mnist (set PDECNN_MNIST)"
MNIST=$(cd "$MNIST" && pwd)

if ! command -v dockerd > /dev/null 2>&1 || ! command -v debootstrap > /dev/null 2>&1; then
  step "installing docker.io debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap > /dev/null
fi

WORK=$(mktemp -d /tmp/pde-docker.XXXXXX)
chmod 755 "$WORK"
export DOCKER_HOST=unix://$WORK/docker.sock
export DOCKER_BUILDKIT=0 # the classic builder: BuildKit would fetch its frontend image from a registry
IMAGE=pde-trainer:ci-test
COPIED_CERTS=()

cleanup() {
  local rc=$?
  set +e
  if [ -f "$WORK/dockerd.pid" ]; then
    docker ps -aq 2> /dev/null | xargs -r docker rm -f > /dev/null 2>&1
    local pid
    pid=$(cat "$WORK/dockerd.pid")
    kill "$pid" 2> /dev/null
    for _ in $(seq 60); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
  fi
  for c in "${COPIED_CERTS[@]}"; do rm -f "$c"; done
  # overlay mounts of a dockerd that did not stop cleanly
  grep -o " $WORK[^ ]*" /proc/mounts 2> /dev/null | sort -r | xargs -r -n1 umount -l 2> /dev/null
  if [ "${PDECNN_DOCKER_KEEP:-0}" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  echo "== docker: total $(( $(date +%s) - START )) s ($([ $rc = 0 ] && echo passed || echo FAILED))"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "dockerd (data root $WORK/data)"
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/dockerd.pid" -H "$DOCKER_HOST" \
  > "$WORK/dockerd.log" 2>&1 &
for i in $(seq 60); do
  docker info > /dev/null 2>&1 && break
  [ "$i" = 60 ] && { tail -20 "$WORK/dockerd.log"; fail "dockerd did not start"; }
  sleep 0.5
done

BASE=${PDECNN_DOCKER_BASE:-}
if [ -n "$BASE" ] && [ -f "$BASE" ]; then
  step "base image debian:bookworm-slim from $BASE"
  docker import - debian:bookworm-slim < "$BASE" > /dev/null
else
  step "base image debian:bookworm-slim: debootstrap --variant=minbase bookworm (about 2 minutes)"
  R=$WORK/rootfs
  debootstrap --variant=minbase bookworm "$R" http://deb.debian.org/debian > "$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # like Debian's slim images: updates and security sources, no docs, man pages or locales (now or later)
  printf '%s\n' 'deb http://deb.debian.org/debian bookworm main' \
    'deb http://deb.debian.org/debian bookworm-updates main' \
    'deb http://deb.debian.org/debian-security bookworm-security main' > "$R/etc/apt/sources.list"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' > "$R/etc/dpkg/dpkg.cfg.d/slim"
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* "$R"/usr/share/man/* \
    "$R"/usr/share/info/* "$R"/usr/share/locale/*
  if [ -n "$BASE" ]; then
    tar -C "$R" -c . > "$BASE"
    docker import - debian:bookworm-slim < "$BASE" > /dev/null
  else
    tar -C "$R" -c . | docker import - debian:bookworm-slim > /dev/null
  fi
  rm -rf "$R"
fi

step "docker build (extra CA certificates of the host: $(ls /usr/local/share/ca-certificates/*.crt 2> /dev/null | wc -l))"
for c in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$c" ] || continue
  dest=docker/ca-certificates/$(basename "$c")
  [ -e "$dest" ] && continue # the user's own, left alone
  cp "$c" "$dest"
  COPIED_CERTS+=("$ROOT/$dest")
done
VERSION=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' pom.xml | head -1)
REVISION=$(git rev-parse HEAD 2> /dev/null || echo unknown)
docker build --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" -t "$IMAGE" . > "$WORK/build.log" 2>&1 \
  || { grep -v '^Get:\|^Unpacking\|^Setting up\|^Selecting\|^Preparing\|^Download' "$WORK/build.log" | tail -40
       fail "docker build"; }
grep -m1 '^jlink modules' "$WORK/build.log" || true

step "the image: size, user, labels, NVIDIA variables"
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "image $IMAGE: $(( SIZE / 1000000 )) MB"
[ "$SIZE" -lt 400000000 ] || fail "the image is $(( SIZE / 1000000 )) MB; it must stay under 400 MB"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = trainer ] || fail "the image does not run as user trainer"
[ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$IMAGE")" = "$VERSION" ] \
  || fail "label org.opencontainers.image.version is not the pom's $VERSION"
ENVS=$(docker image inspect -f '{{join .Config.Env " "}}' "$IMAGE")
for e in NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility; do
  [[ " $ENVS " == *" $e "* ]] || fail "the image lacks ENV $e"
done

# run as an unprivileged host uid (a user's), which owns the mounted run folder
U=1234:1234
RUNS=$WORK/runs
install -d -o 1234 -g 1234 "$RUNS"
run() { docker run --rm --user "$U" -v "$MNIST:/data/mnist:ro" -v "$RUNS:/work/runs" "$IMAGE" "$@"; }
TRAIN=(--config /app/configs/mnist_pde_pm_c8.yaml --data-dir /data/mnist --epochs 1 --limit-test 500)

step "--help"
out=$(run --help) || fail "--help exited $?"
grep -q '^Usage: trainer' <<< "$out" || fail "--help: $out"

step "devices (no NVIDIA driver here)"
out=$(run devices 2>&1) || fail "devices exited $?: $out"
echo "$out" | head -3
grep -q 'no NVIDIA driver' <<< "$out" || fail "devices does not say that there is no NVIDIA driver"

step "--device 0 fails with one line and exit 2"
set +e
out=$(run --device 0 "${TRAIN[@]}" --limit-train 100 2>&1)
rc=$?
set -e
echo "$out"
[ $rc = 2 ] || fail "--device 0 exited $rc, not 2"
[ "$(wc -l <<< "$out")" = 1 ] || fail "--device 0 printed more than one line"

step "one MNIST epoch on the CPU into the mounted run folder"
run "${TRAIN[@]}" --limit-train 2000 --name one | tail -2
for f in config.json metrics.csv metrics.jsonl summary.json curves.png best.safetensors last.safetensors; do
  p=$RUNS/one/$f
  [ -s "$p" ] || fail "$f is missing on the host"
  [ "$(stat -c %u:%g "$p")" = "$U" ] || fail "$f is owned by $(stat -c %u:%g "$p"), not the run's user $U"
  setpriv --reuid=1234 --regid=1234 --clear-groups test -r "$p" || fail "$f is not readable by its user"
done
[ "$(tail -n +2 "$RUNS/one/metrics.csv" | cut -d, -f1)" = 1 ] || fail "metrics.csv has not exactly epoch 1"

step "docker stop (SIGTERM) during training, then --resume in a new container"
docker run -d --name pde-stop --user "$U" -v "$MNIST:/data/mnist:ro" -v "$RUNS:/work/runs" "$IMAGE" \
  "${TRAIN[@]}" --limit-train 10000 --name stopped > /dev/null
for i in $(seq 240); do
  docker logs pde-stop 2>&1 | grep -qE '^epoch 1/1 +[0-9]+% [0-9]+/' && break
  [ "$i" = 240 ] && { docker logs pde-stop 2>&1 | tail; fail "training did not start"; }
  sleep 0.25
done
docker stop -t 60 pde-stop > /dev/null
rc=$(docker inspect -f '{{.State.ExitCode}}' pde-stop)
docker logs pde-stop 2>&1 | grep -m1 '^stopped by SIGTERM at' || { docker logs pde-stop 2>&1 | tail; fail "no stop message"; }
docker rm pde-stop > /dev/null
[ "$rc" = 143 ] || fail "docker stop: exit $rc, not 143"
[ -s "$RUNS/stopped/last.safetensors" ] || fail "no last.safetensors after SIGTERM"
[ ! -e "$RUNS/stopped/metrics.csv" ] || [ "$(wc -l < "$RUNS/stopped/metrics.csv")" -le 1 ] \
  || fail "the epoch had finished before docker stop: no mid-epoch checkpoint tested"
out=$(run --resume /work/runs/stopped)
grep -m1 '^resumed .* at epoch 1' <<< "$out" || { echo "$out" | tail; fail "--resume did not continue mid-epoch"; }
tail -1 <<< "$out"
[ "$(tail -n +2 "$RUNS/stopped/metrics.csv" | cut -d, -f1)" = 1 ] || fail "--resume did not finish epoch 1"
[ -s "$RUNS/stopped/summary.json" ] || fail "--resume wrote no summary.json"

step "passed (image $(( SIZE / 1000000 )) MB)"
