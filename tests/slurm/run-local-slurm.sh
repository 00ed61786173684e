#!/usr/bin/env bash
# The Slurm executor on a real Slurm (issue 17): starts munged, slurmctld and slurmd on localhost
# with a generated one-node configuration (all state under a temporary directory), runs
# `vg-audit run --quick --executor slurm` on it, runs the same audit with the local executor,
# checks that both summaries agree (minus times and paths) and that every model has the same
# SHA-256, prints the wall times and each task's submission-to-start overhead, and stops the daemons.
#
#   tests/slurm/run-local-slurm.sh [path/to/vg-audit]
#
# Needs Debian's slurm-wlm and munge packages (`apt-get install slurm-wlm munge`) and root (slurmd
# runs jobs as their user, and this container-friendly setup runs everything as root).
# Exit codes: 0 passed, 1 a check failed, 2 error, 77 skipped (prerequisites missing; says why).
set -euo pipefail

VG="${1:-${CARGO_TARGET_DIR:-target}/release/vg-audit}"
skip() { echo "SKIPPED: real-Slurm test: $*"; exit 77; }
[ -x "$VG" ] || { echo "error: no vg-audit binary at $VG (build with cargo build --release)" >&2; exit 2; }
VG="$(cd "$(dirname "$VG")" && pwd)/$(basename "$VG")"
for cmd in munged slurmctld slurmd sbatch squeue scontrol python3; do
  command -v "$cmd" >/dev/null 2>&1 || skip "$cmd not installed (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || skip "needs root to run slurmd"

START=$(date +%s)
T="$(mktemp -d /tmp/vg-slurm.XXXXXX)"
chmod 755 "$T"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# --- munge: its own key, socket and state -------------------------------------------------------
mkdir -p "$T/munge" "$T/munge-run"
chmod 700 "$T/munge"
chmod 755 "$T/munge-run"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --foreground --key-file="$T/munge/munge.key" --socket="$T/munge-run/munge.sock" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" --seed-file="$T/munge/seed" > "$T/munge/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge-run/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge-run/munge.sock" ] || { echo "error: munged did not start:" >&2; cat "$T/munge/munged.log" >&2; exit 2; }

# --- a one-node cluster on localhost -----------------------------------------------------------
HOST="$(hostname -s)"
CPUS="$(nproc)"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$T/state" "$T/spool"
export SLURM_CONF="$T/slurm.conf"
cat > "$SLURM_CONF" <<CONF
ClusterName=vgaudit
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge-run/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
# no cgroups in a container: Linux process tracking, no task binding, no accounting daemon
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -D -i -f "$SLURM_CONF" > "$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" > "$T/slurmd.out" 2>&1 &
PIDS+=($!)
up=0
for _ in $(seq 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then up=1; break; fi
  sleep 0.3
done
if [ "$up" != 1 ]; then
  echo "error: the local Slurm cluster did not come up" >&2
  tail -20 "$T/slurmctld.log" "$T/slurmd.log" "$T/slurmctld.out" "$T/slurmd.out" >&2 || true
  exit 2
fi
echo "Slurm $(sinfo -V | awk '{print $2}') up on $HOST ($CPUS CPUs)"

# --- the same quick audit, on Slurm and locally -------------------------------------------------
cat > "$T/audit.toml" <<TOML
[executor.slurm]
cpus_per_task = 1
mem = "1G"
time = "00:30:00"
poll_seconds = 1.0
retries = 1
TOML
SEED=11
t0=$(date +%s.%N)
RAYON_NUM_THREADS=1 "$VG" run --quick --insecure-seed $SEED --executor slurm --config "$T/audit.toml" --out "$T/slurm-run" \
  2> "$T/slurm-run.err" || { echo "FAILED: vg-audit run --executor slurm:" >&2; cat "$T/slurm-run.err" >&2; tail -30 "$T"/slurm-run/slurm/logs/* >&2 || true; exit 1; }
t1=$(date +%s.%N)
RAYON_NUM_THREADS=1 "$VG" run --quick --insecure-seed $SEED --executor local --jobs 1 --config "$T/audit.toml" --out "$T/local-run" \
  2> "$T/local-run.err" || { echo "FAILED: vg-audit run --executor local:" >&2; cat "$T/local-run.err" >&2; exit 1; }
t2=$(date +%s.%N)

python3 - "$T" "$t0" "$t1" "$t2" <<'PY'
import datetime, glob, json, os, re, sys
T, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:])

def comparable(v):
    # times, durations and the corpus manifest's hash (it names the input paths) differ legitimately
    if isinstance(v, dict):
        return {k: comparable(x) for k, x in v.items()
                if not (k.endswith("_seconds") or k.endswith("_at") or k == "corpus_manifest_sha256")}
    if isinstance(v, list):
        return [comparable(x) for x in v]
    return v

def weights(run):
    # the models' weights as the audit log recorded them (model.json also holds training times)
    out = {}
    for line in open(os.path.join(run, "audit-log.jsonl")):
        e = json.loads(line)
        if e["step"].startswith("train:") and e["status"] == "done":
            out[e["step"]] = {k: v for k, v in e["outputs"].items() if k.endswith(".safetensors")}
    return out

slurm, local = os.path.join(T, "slurm-run"), os.path.join(T, "local-run")
ok = True
a, b = (comparable(json.load(open(os.path.join(r, "summary.json")))) for r in (slurm, local))
if a != b:
    print("FAILED: the Slurm run's summary differs from the local run's"); ok = False
ms, ml = weights(slurm), weights(local)
# --quick trains two targets, two shadows and (dp_shadows on by default) their two DP twins
expected = {"train:dp", "train:non-dp", "train:shadow-0", "train:shadow-1", "train:shadow-dp-0", "train:shadow-dp-1"}
if ms != ml or set(ms) != expected:
    print(f"FAILED: model hashes differ or are missing: {ms} vs {ml}"); ok = False

def ts(s):
    # RFC 3339 in UTC with up to nanoseconds (date +%N), which fromisoformat does not take
    base, _, frac = s.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(base + "+00:00").timestamp() + float("0." + (frac or "0"))
subs = [json.loads(l) for l in open(os.path.join(slurm, "slurm", "submissions.jsonl"))]
waits = []
for f in sorted(glob.glob(os.path.join(slurm, "slurm", "logs", "*.out"))):
    job = os.path.basename(f).split("_")[0]
    m = re.search(r"started (\S+)", open(f).read())
    sub = next(s for s in subs if s["job"] == job)
    if m:
        waits.append(ts(m.group(1)) - ts(sub["submitted_at"]))
print(f"Slurm run: {t1 - t0:.1f} s wall; local run (--jobs 1): {t2 - t1:.1f} s wall")
print("submission → task start, per task (s): " + ", ".join(f"{w:.2f}" for w in sorted(waits)))
print("PASSED: summary and model hashes equal under both executors" if ok else "see above")
sys.exit(0 if ok else 1)
PY
echo "real-Slurm test: $(( $(date +%s) - START )) s in all (daemons, both runs, checks)"
