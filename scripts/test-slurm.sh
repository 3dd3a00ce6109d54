#!/bin/bash
# The emitted Slurm scripts on a real single-node cluster (opt-in, not in CI): `npm run test:slurm [-- --keep]`.
#
# Installs Debian's slurm-wlm (slurmctld, slurmd, client) and munge if they are absent (needs root), starts
# munged (unless one runs already), slurmctld and `slurmd -N localhost` with a private slurm.conf in a temp
# folder (custom ports; /etc/slurm is not touched), then:
#   1. emits `reproduce fig5b --scale fast --emit slurm` and submits slurm.sh from a *different* folder;
#   2. scancels one array task mid-run: it must stop with a checkpoint ("cancelled") and leave no process;
#   3. the merge job chained by that submission (afterany) must fail, naming the cancelled run and the
#      `sbatch --array=…` line that trains it;
#   4. resubmits that index (from yet another folder): the task resumes from its checkpoint and its own merge
#      job draws the figure;
#   5. compares figure.svg and data.csv byte for byte (and data.json's figure and numbers) with a local
#      `reproduce fig5b --scale fast`;
# and stops every daemon it started by its pid (also on failure or Ctrl-C).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE="$(command -v node)"
CLI="$ROOT/out/cli.js"
KEEP=0; [ "${1:-}" = "--keep" ] && KEEP=1
W="$(mktemp -d /tmp/il-slurm-XXXXXX)"
PIDS=()
say() { printf '[test-slurm %s] %s\n' "$(date +%T)" "$*"; }
die() { say "FAIL: $*"; exit 1; }

cleanup() {
  local rc=$?
  if [ -n "${SLURM_CONF:-}" ] && command -v scancel >/dev/null; then scancel --quiet --user=root >/dev/null 2>&1 || true; sleep 1; fi
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    local p="${PIDS[$i]}"
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  [ ${#PIDS[@]} -gt 0 ] && say "stopped daemons (pids ${PIDS[*]})"
  if [ $KEEP = 1 ] || [ $rc != 0 ]; then say "kept $W"; else rm -rf "$W"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (to install slurm-wlm and munge with apt-get and to run the daemons)"
[ -f "$CLI" ] || die "out/cli.js is missing: run npm run build first"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y slurmctld slurmd slurm-client munge >"$W/apt.log" 2>&1 \
    || { apt-get update >>"$W/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y slurmctld slurmd slurm-client munge >>"$W/apt.log" 2>&1; } \
    || die "apt-get install failed (see $W/apt.log)"
fi

# munge: reuse a running munged, else start one as the munge user on the default socket.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -f /etc/munge/munge.key ] || { /usr/sbin/mungekey --create >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  mkdir -p /run/munge && chown munge:munge /run/munge
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F >"$W/munged.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged did not start (see $W/munged.log)"
  say "munged started (pid ${PIDS[-1]})"
else
  say "using the munged that already runs"
fi

MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
CPUS=$(nproc)
mkdir -p "$W/state" "$W/spool"
cat >"$W/slurm.conf" <<EOF
ClusterName=il-test
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$W/jobcomp.log
MinJobAge=3600
KillWait=30
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$W/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$W/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$W/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 120); do [ "$(sinfo -h -N -o %t 2>/dev/null | head -1)" = "idle" ] && break; sleep 0.5; done
[ "$(sinfo -h -N -o %t 2>/dev/null | head -1)" = "idle" ] || die "the node did not come up (see $W/slurmctld.log, $W/slurmd.log)"
say "$(sbatch --version), $(munged --version 2>&1 | head -1)"
say "slurmctld (pid ${PIDS[-2]}) and slurmd -N localhost (pid ${PIDS[-1]}): node idle, $CPUS CPUs, ${MEM} MB"

# 1. Emit, then submit from another folder.
OUT="$W/figures"; RUNS="$W/runs"
(cd "$ROOT" && "$NODE" "$CLI" reproduce fig5b --scale fast --emit slurm --out "$OUT" --runs "$RUNS")
SCRIPT="$OUT/fig5b/slurm.sh"
grep -q npx "$SCRIPT" && die "the emitted script calls npx"
mkdir -p "$W/elsewhere" && cd "$W/elsewhere"
JOB=$(sbatch --parsable "$SCRIPT")
say "submitted $SCRIPT from $PWD as array job $JOB"

state() { squeue -h --states=all -j "$1" -o %T 2>/dev/null | head -1; }
wait_gone() { # job id(s) until none is pending/running
  for _ in $(seq 3600); do
    [ -z "$(squeue -h -j "$1" -t PENDING,RUNNING,CONFIGURING,COMPLETING 2>/dev/null)" ] && return 0; sleep 1
  done; die "job $1 did not end"
}
merge_jobs() { squeue -h --states=all -n induction-lab-fig5b-merge -o '%i %T' 2>/dev/null | sort -n; }

# 2. Cancel task 2 once it has trained a while (≥ 10 evaluations).
KEY=fig5b.perfect_l1-fast-seed5
for _ in $(seq 1200); do
  n=$( [ -f "$RUNS/$KEY/metrics.jsonl" ] && wc -l <"$RUNS/$KEY/metrics.jsonl" || echo 0)
  [ "$n" -ge 10 ] && break; sleep 0.5
done
[ "$n" -ge 10 ] || die "task 2 did not start training"
TASK_PID=$(python3 -c "import json;print(json.load(open('$RUNS/$KEY/run.lock'))['pid'])")
scancel "${JOB}_2"
say "scancel ${JOB}_2 after $n evaluations (training pid $TASK_PID)"
for _ in $(seq 100); do kill -0 "$TASK_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TASK_PID" 2>/dev/null && die "the training (pid $TASK_PID) still runs after scancel"
ST=$(python3 -c "import json;d=json.load(open('$RUNS/$KEY/run.json'));print(d['status'], d['sequences'])")
say "after scancel: training process gone; run.json: $ST"
[ "${ST%% *}" = cancelled ] || die "expected status cancelled, got $ST"
[ -f "$RUNS/$KEY/checkpoints/seq-${ST##* }.safetensors" ] || die "no checkpoint at the stop (${ST##* })"

# 3. The first merge job runs after every task (afterany) and fails naming the missing run.
wait_gone "$JOB"
for _ in $(seq 60); do [ -n "$(merge_jobs)" ] && break; sleep 1; done
M1=$(merge_jobs | head -1 | cut -d' ' -f1)
[ -n "$M1" ] || die "no merge job was submitted"
wait_gone "$M1"
say "merge job $M1: $(state "$M1"), $(scontrol show job "$M1" | grep -o 'ExitCode=[0-9:]*')"
[ "$(state "$M1")" = FAILED ] || die "the first merge job should fail (a run is missing)"
LOG1=$(ls "$OUT"/fig5b/slurm-logs/induction-lab-fig5b-merge-"$M1".out)
grep -q "1 of 6 run(s) are not complete: #2 $KEY (cancelled); train them first: sbatch --array=2 $SCRIPT" "$LOG1" \
  || die "the merge log does not name the missing run: $(cat "$LOG1")"
say "merge log: $(tail -1 "$LOG1")"

# 4. Resubmit the cancelled index from yet another folder: it resumes, and its merge job draws the figure.
mkdir -p "$W/another" && cd "$W/another"
JOB2=$(sbatch --parsable --array=2 "$SCRIPT")
say "resubmitted index 2 as job $JOB2 from $PWD"
wait_gone "$JOB2"
grep -h "resuming at" "$OUT"/fig5b/slurm-logs/induction-lab-fig5b-"$JOB2"_2.out || die "task 2 did not resume from its checkpoint"
for _ in $(seq 60); do [ "$(merge_jobs | wc -l)" -ge 2 ] && break; sleep 1; done
M2=$(merge_jobs | tail -1 | cut -d' ' -f1)
[ "$M2" != "$M1" ] || die "the resubmission chained no merge job"
wait_gone "$M2"
say "merge job $M2: $(state "$M2")"
[ "$(state "$M2")" = COMPLETED ] || die "the second merge job failed: $(cat "$OUT"/fig5b/slurm-logs/induction-lab-fig5b-merge-"$M2".out)"
[ -z "$(ls "$ROOT"/slurm-*.out "$W"/elsewhere/slurm-*.out "$W"/another/slurm-*.out 2>/dev/null)" ] || die "Slurm logs outside the output folder"
for f in "$RUNS"/*/run.lock; do [ -e "$f" ] && die "a lock was left: $f"; done

# 5. The same figure locally.
say "local reproduce fig5b --scale fast (the reference)"
(cd "$ROOT" && "$NODE" "$CLI" reproduce fig5b --scale fast --out "$W/local" --runs "$W/local-runs" >"$W/local.log" 2>&1) || die "local reproduce failed: $(tail -3 "$W/local.log")"
cmp "$OUT/fig5b/figure.svg" "$W/local/fig5b/figure.svg" || die "figure.svg differs"
cmp "$OUT/fig5b/data.csv" "$W/local/fig5b/data.csv" || die "data.csv differs"
"$NODE" -e '
  const fs = require("fs"); const [a, b] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  if (JSON.stringify([a.figure, a.numbers]) !== JSON.stringify([b.figure, b.numbers])) { console.error("data.json figure/numbers differ"); process.exit(1); }
  console.log("learning times:", JSON.stringify(a.numbers.learningTime));' "$OUT/fig5b/data.json" "$W/local/fig5b/data.json" || die "data.json differs"
say "PASS: Slurm figure.svg and data.csv byte-identical to the local run; data.json figure and numbers equal"
