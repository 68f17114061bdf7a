#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the sweep integration test (tools/slurm/test-sweep.sh)
# and for trying `sweep run --executor slurm` by hand. It runs Debian's slurm-wlm (slurmctld + slurmd, Slurm 22.05)
# with munge authentication as root, without cgroups and without accounting storage, with every state, spool,
# log and pid file under one folder, so that starting and stopping it leaves nothing behind elsewhere.
#
# Usage: tools/slurm/cluster.sh install       apt-get install slurm-wlm munge (about 10 s) when sbatch is missing
#        tools/slurm/cluster.sh start [DIR]   writes DIR/slurm.conf, starts munged, slurmctld, slurmd; waits until
#                                             the node is idle (DIR default /tmp/pdecnn-slurm)
#        tools/slurm/cluster.sh stop [DIR]    stops the three daemons by their pid files
#        tools/slurm/cluster.sh env [DIR]     prints `export SLURM_CONF=...` for the client commands
# The client commands (sbatch, squeue, scontrol) find the cluster through SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

cmd=${1:-}
DIR=${2:-/tmp/pdecnn-slurm}
CONF=$DIR/slurm.conf

die() { echo "slurm cluster: $*" >&2; exit 1; }

install() {
  if command -v sbatch >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "installing slurm-wlm and munge needs root"
  echo "installing: slurm-wlm munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  # leave the node a little less memory than it has, so slurmd does not drain it for "low RealMemory"
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  mkdir -p "$DIR"/{state,spool,log,run}
  cat > "$CONF" <<EOF
# written by tools/slurm/cluster.sh: one node, root, no cgroups, no accounting storage
ClusterName=pdecnn
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
# a requeued job waits for its begin time (about 2 minutes by default); the test moves it with scontrol
KillWait=30
MinJobAge=600
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  command -v slurmctld >/dev/null 2>&1 || die "slurmctld not found; run: $0 install"
  [ "$(id -u)" = 0 ] || die "the test cluster runs its daemons as root"
  stop_daemons quiet
  write_conf
  export SLURM_CONF=$CONF
  # munge: a key of its own when the package did not make one
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chmod 400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  if ! munge -n >/dev/null 2>&1; then
    munged --force --pid-file="$DIR/run/munged.pid" || die "munged did not start"
  fi
  slurmctld -f "$CONF" || die "slurmctld did not start (log: $DIR/log/slurmctld.log)"
  slurmd -f "$CONF" || die "slurmd did not start (log: $DIR/log/slurmd.log)"
  local i state
  for i in $(seq 1 60); do
    state=$(sinfo -h -o '%t' 2>/dev/null | head -1 || true)
    if [ "$state" = idle ]; then
      echo "slurm cluster up: $(sinfo -h -o '%n %c CPUs %m MB %t') (SLURM_CONF=$CONF)"
      return
    fi
    sleep 1
  done
  sinfo >&2 || true
  tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
  die "the node did not become idle within 60 s"
}

stop_daemons() {
  local f pid
  for f in slurmd slurmctld munged; do
    if [ -s "$DIR/run/$f.pid" ]; then
      pid=$(cat "$DIR/run/$f.pid")
      if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$DIR/run/$f.pid"
    fi
  done
  [ "${1:-}" = quiet ] || echo "slurm cluster stopped"
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop_daemons ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 install | start [DIR] | stop [DIR] | env [DIR]" >&2; exit 2 ;;
esac
