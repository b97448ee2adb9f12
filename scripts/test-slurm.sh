#!/usr/bin/env bash
# Runs deploy/slurm/precis-array.sbatch, the job array script that docs/scheduled-jobs.md shows,
# on a real one-node Slurm cluster started here, over tests/fixtures/batch with the 0.5B model.
#
#   sudo scripts/test-slurm.sh        (root: it installs Slurm and munge if missing, and the
#                                      daemons and the jobs run as root)
#
# It installs slurmctld, slurmd, slurm-client and munge with apt-get when they are missing,
# writes a munge key and a slurm.conf for this host into a temporary directory, starts munged,
# slurmctld and slurmd from there (other ports than a system Slurm's), and then:
#   1. submits the array as two shards (one CPU each) and cancels shard 1 (scancel) once it
#      has finished an article but not all of them;
#   2. resubmits shard 1 alone (sbatch --array=1), which briefs only what it had left;
#   3. resubmits the whole array, which skips every article without loading the model;
#   4. submits a task whose id is not a shard number, which must fail with exit 2;
#   5. runs precis without --shard in a non-contiguous array (--array=1,3), where it must
#      refuse to take its shard from Slurm's variables (exit 2).
# Checks: every article briefed exactly once across shards and runs, one report per shard, and
# the state and exit code Slurm recorded for every task (jobcomp file and scontrol) match the
# exit code in that task's report. Every daemon it started is stopped by pid on exit, whatever
# happens, and everything it wrote is removed (SLURM_TEST_KEEP=1 keeps the directory).
#
# Environment: PRECIS_BIN (default: cargo build --release --locked, then
# $CARGO_TARGET_DIR/release/precis), PRECIS_MODELS_DIR (default models/; the 0.5B model is
# fetched with `precis fetch-models --all` if absent), SLURM_TEST_TIMEOUT (seconds allowed for
# each wait, default 600). Takes about three minutes on 2 cores.
set -euo pipefail
umask 022 # munged refuses group- or world-writable directories
cd "$(dirname "$0")/.."
root="$(pwd)"
timeout_s="${SLURM_TEST_TIMEOUT:-600}"
sbatch_file="$root/deploy/slurm/precis-array.sbatch"
articles="$root/tests/fixtures/batch"

fail() {
    echo "test-slurm: FAIL: $*" >&2
    exit 1
}
say() { echo "test-slurm: $*" >&2; }

[ "$(id -u)" = 0 ] || { echo "test-slurm: must run as root (it installs Slurm and munge and runs their daemons)" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
    ! command -v munged >/dev/null || ! command -v mungekey >/dev/null; then
    command -v apt-get >/dev/null || { echo "test-slurm: Slurm or munge is missing and there is no apt-get to install them" >&2; exit 2; }
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    # The packages would start the system's munged and Slurm daemons: a policy-rc.d that
    # refuses to start services keeps them stopped (only for the install, if none exists).
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        trap 'rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
    fi
    installed=0
    timeout "$timeout_s" apt-get update -q >/dev/null &&
        timeout "$timeout_s" apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null &&
        installed=1
    [ -z "$policy" ] || rm -f "$policy"
    trap - EXIT
    [ "$installed" = 1 ] || { echo "test-slurm: apt-get could not install Slurm and munge" >&2; exit 2; }
fi
command -v python3 >/dev/null || { echo "test-slurm: python3 is required (report checks)" >&2; exit 2; }

if [ -n "${PRECIS_BIN:-}" ]; then
    precis="$PRECIS_BIN"
else
    cargo build --release --locked --quiet
    precis="${CARGO_TARGET_DIR:-$root/target}/release/precis"
fi
[ -x "$precis" ] || fail "no precis binary at $precis"
export PRECIS_MODELS_DIR="${PRECIS_MODELS_DIR:-$root/models}"
model="$PRECIS_MODELS_DIR/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
[ -f "$model" ] || "$precis" fetch-models --all >/dev/null
[ -f "$model" ] || fail "no model at $model"

# Everything lives here; munged wants its socket directory searchable by all.
work="$(mktemp -d /tmp/precis-slurm.XXXXXX)"
chmod 755 "$work"
mkdir -p "$work"/{munge-key,munge-run,state,spool,log,bin,out,reports}
chmod 700 "$work/munge-key"
ln -s "$(cd "$(dirname "$precis")" && pwd)/$(basename "$precis")" "$work/bin/precis"

pids=()
cleanup() {
    local status=$?
    set +e
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ "${#pids[@]}" -gt 1 ]; then
        # Jobs still running (after a failure) are cancelled and waited for before slurmd goes.
        scancel --full --quiet --partition=precistest 2>/dev/null
        for _ in $(seq 30); do
            [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
            sleep 1
        done
        # A job's slurmstepd outlives it for a moment; its socket in the spool says it is there.
        for _ in $(seq 30); do
            [ -z "$(find "$work/spool" -type s -name '*_*' 2>/dev/null)" ] && break
            sleep 1
        done
    fi
    # A precis that a job started and that still runs (it writes into $work/out), then the
    # daemons, newest first: SIGTERM, then SIGKILL after 10 seconds.
    for pid in $(grep -l -a -F -- "--out" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
        grep -q -a -F "$work/out" "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        for _ in $(seq 100); do
            kill -0 "${pids[i]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    if [ "$status" != 0 ]; then
        for f in "$work"/log/*; do
            [ -f "$f" ] || continue
            echo "---- $f (last 20 lines)" >&2
            tail -n 20 "$f" >&2
        done
    fi
    if [ "${SLURM_TEST_KEEP:-0}" = 1 ]; then
        echo "test-slurm: kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# munge, with its own key and socket.
mungekey --create --keyfile="$work/munge-key/munge.key"
munged --foreground --key-file="$work/munge-key/munge.key" --socket="$work/munge-run/socket" \
    --pid-file="$work/munge-run/munged.pid" --log-file="$work/log/munged.log" \
    --seed-file="$work/munge-key/seed" >"$work/log/munged.out" 2>&1 &
pids+=($!)

# A slurm.conf for this host: one node with 2 CPUs, no cgroups, no accounting database (the
# finished jobs' states and exit codes go to a jobcomp file and stay in scontrol for an hour).
host="$(hostname -s)"
memory_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 256))
cpus=$(($(nproc) >= 2 ? 2 : 1))
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=precistest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${SLURM_TEST_PORT:-16817}
SlurmdPort=$((${SLURM_TEST_PORT:-16817} + 1))
AuthType=auth/munge
AuthInfo=socket=$work/munge-run/socket
CredType=cred/munge
MpiDefault=none
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/state/slurmctld.pid
SlurmdPidFile=$work/spool/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$work/log/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
KillWait=30
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=precistest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

wait_for() { # seconds, description, command...
    local limit=$1 what=$2
    shift 2
    local start=$SECONDS
    until "$@"; do
        ((SECONDS - start < limit)) || fail "timed out after ${limit}s waiting for $what"
        sleep 0.5
    done
}
wait_for 30 "munged" test -S "$work/munge-run/socket"
slurmctld -D -f "$SLURM_CONF" >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = idle ]; }
wait_for 60 "the node to be idle in sinfo" node_idle
say "Slurm $(sinfo -V | cut -d' ' -f2) up on $host ($cpus CPUs); precis $("$precis" --version | cut -d' ' -f2)"

export PATH="$work/bin:$PATH"
submit() { # extra sbatch options...; prints the job id
    sbatch --parsable --cpus-per-task=1 --mem=1G --output="$work/log/precis-%A_%a.log" \
        --export="ALL,PRECIS_INBOX=$articles,PRECIS_OUT=$work/out,PRECIS_SHARDS=2,PRECIS_MODEL=$model" \
        "$@" "$sbatch_file"
}
job_done() { [ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; }
report() { echo "$work/out/report.shard-$1-of-2.json"; }
keep_reports() { # phase name: copies this phase's reports aside for the final checks
    mkdir -p "$work/reports/$1"
    for shard in 0 1; do
        [ -f "$(report $shard)" ] && cp "$(report $shard)" "$work/reports/$1/"
    done
    return 0
}
# A report showing at least one article ok and at least one not yet done.
partly_done() {
    [ -f "$1" ] && python3 - "$1" <<'EOF'
import json, sys
statuses = [a["status"] for a in json.load(open(sys.argv[1]))["articles"]]
sys.exit(0 if "ok" in statuses and "pending" in statuses else 1)
EOF
}

say "1. the array as two shards; shard 1 is cancelled after its first article"
first=$(submit --array=0-1)
wait_for "$timeout_s" "shard 1 of job $first to finish an article" partly_done "$(report 1)"
scancel "${first}_1"
wait_for "$timeout_s" "job $first to end" job_done "$first"
keep_reports first

say "2. shard 1 resubmitted alone"
second=$(submit --array=1)
wait_for "$timeout_s" "job $second to end" job_done "$second"
keep_reports second

say "3. the whole array again"
third=$(submit --array=0-1)
wait_for "$timeout_s" "job $third to end" job_done "$third"
keep_reports third

say "4. a task id that is not a shard number"
fourth=$(submit --array=2)
wait_for "$timeout_s" "job $fourth to end" job_done "$fourth"

say "5. precis taking its shard from Slurm's variables, in an array that is not contiguous"
fifth=$(sbatch --parsable --array=1,3 --cpus-per-task=1 --mem=1G --output="$work/log/precis-%A_%a.log" \
    --wrap="exec precis run '$articles' --out '$work/out' --quiet --model '$model'")
wait_for "$timeout_s" "job $fifth to end" job_done "$fifth"

scontrol show job -o >"$work/log/scontrol.txt"
python3 - "$work" "$articles" "$first" "$second" "$third" "$fourth" "$fifth" <<'EOF'
import json, os, re, sys

work, articles, first, second, third, fourth, fifth = sys.argv[1:]
out = os.path.join(work, "out")
ids = sorted(os.path.splitext(name)[0] for name in os.listdir(articles))
errors = []


def check(ok, message):
    if not ok:
        errors.append(message)


def load(phase, shard):
    path = os.path.join(work, "reports", phase, f"report.shard-{shard}-of-2.json")
    return json.load(open(path)) if os.path.exists(path) else None


def by_status(report, status):
    return {a["id"] for a in report["articles"] if a["status"] == status}


# What Slurm recorded for each array task, in the jobcomp file (written when the job ends) and
# in scontrol (the batch step's exit status, which for a cancelled job comes after jobcomp's
# record: jobcomp says CANCELLED with 0:0, scontrol has the status precis exited with).
def records(path):
    found = {}
    for line in open(path):
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            found[(fields["ArrayJobId"], fields["ArrayTaskId"])] = (fields["JobState"], fields["ExitCode"])
    return found


jobcomp = records(os.path.join(work, "log", "jobcomp.txt"))
scontrol = records(os.path.join(work, "log", "scontrol.txt"))


def task(job, index, state, code):
    key = (job, str(index))
    check(scontrol.get(key) == (state, code), f"scontrol has {scontrol.get(key)} for task {job}_{index}, expected ({state}, {code})")
    expected = (state, "0:0" if state == "CANCELLED" else code)
    check(jobcomp.get(key) == expected, f"jobcomp has {jobcomp.get(key)} for task {job}_{index}, expected {expected}")


# 1. Shard 0 finished; shard 1 was cancelled after an article and wrote its report on SIGTERM.
a0, a1 = load("first", 0), load("first", 1)
check(a0 is not None and a1 is not None, "run 1: a report is missing")
if a0 and a1:
    shard0, shard1 = {a["id"] for a in a0["articles"]}, {a["id"] for a in a1["articles"]}
    check(not shard0 & shard1, f"run 1: shards overlap: {shard0 & shard1}")
    check(sorted(shard0 | shard1) == ids, f"run 1: shards {sorted(shard0 | shard1)} != articles {ids}")
    check(by_status(a0, "ok") == shard0 and a0["exit_code"] == 0, f"run 1 shard 0: {a0['totals']}, exit {a0['exit_code']}")
    check(a1["exit_code"] == 143 and a1["stopped"] == "signal 15", f"run 1 shard 1: exit {a1['exit_code']}, stopped {a1['stopped']}")
    check(by_status(a1, "ok") and by_status(a1, "ok") != shard1, f"run 1 shard 1 was not cancelled mid-run: {a1['totals']}")
    task(first, 0, "COMPLETED", "0:0")
    task(first, 1, "CANCELLED", "143:0")  # the exit code in its report

# 2. Shard 1 again: what it had done is skipped, the rest briefed; shard 0 untouched.
b1 = load("second", 1)
if a1 and b1:
    check({a["id"] for a in b1["articles"]} == shard1, "run 2: shard 1 has other articles than in run 1")
    check(by_status(b1, "skipped") == by_status(a1, "ok"), f"run 2: skipped {by_status(b1, 'skipped')}, run 1 did {by_status(a1, 'ok')}")
    check(by_status(b1, "ok") == shard1 - by_status(a1, "ok"), f"run 2: briefed {by_status(b1, 'ok')}")
    check(b1["exit_code"] == 0 and b1["model"]["loaded"], f"run 2: exit {b1['exit_code']}, model loaded {b1['model']['loaded']}")
    check(load("second", 0) == a0, "run 2 rewrote shard 0's report")
    task(second, 1, "COMPLETED", "0:0")
    # Every article briefed exactly once over runs 1 and 2.
    briefed = sorted(by_status(a0, "ok")) + sorted(by_status(a1, "ok")) + sorted(by_status(b1, "ok"))
    check(sorted(briefed) == ids, f"articles briefed over runs 1 and 2: {sorted(briefed)}, expected each of {ids} once")

# 3. The whole array again: everything skipped, the model never loaded.
for shard in (0, 1):
    c = load("third", shard)
    check(c is not None, f"run 3: no report for shard {shard}")
    if c:
        check(c["totals"]["skipped"] == len(c["articles"]) > 0, f"run 3 shard {shard}: {c['totals']}")
        check(c["exit_code"] == 0 and not c["model"]["loaded"], f"run 3 shard {shard}: exit {c['exit_code']}, model loaded {c['model']['loaded']}")
        task(third, shard, "COMPLETED", "0:0")

# 4. Task 2 of 2 shards: refused before any work, exit 2, its log says why.
task(fourth, 2, "FAILED", "2:0")
log = open(os.path.join(work, "log", f"precis-{fourth}_2.log")).read()
check("--shard \"2/2\"" in log, f"run 4: the log does not name the bad shard: {log!r}")

# 5. --array=1,3 without --shard: both tasks refused (task 1 would have been shard 0 of 2).
for index in (1, 3):
    task(fifth, index, "FAILED", "2:0")
    log = open(os.path.join(work, "log", f"precis-{fifth}_{index}.log")).read()
    check("is not contiguous" in log, f"run 5 task {index}: the log does not say why: {log!r}")

# The outputs: one record and one Markdown file per article, no temporary files left.
names = set(os.listdir(out))
for i in ids:
    check(f"{i}.json" in names and f"{i}.md" in names, f"no outputs for {i}")
    if f"{i}.json" in names:
        json.load(open(os.path.join(out, f"{i}.json")))
check(not [n for n in names if n.startswith(".precis-tmp-")], "temporary files left behind")

for e in errors:
    print("test-slurm: FAIL:", e, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"test-slurm: ok: {len(ids)} articles in 2 shards; cancel, resubmission, rerun and refusals as recorded by Slurm", file=sys.stderr)
EOF
