#!/usr/bin/env bash
# Corpus mode on a real Slurm cluster: a single-node Slurm (Debian's slurm-wlm and munge,
# configured in a temporary folder with this machine's cores, daemons on loopback only) runs the
# corpus as a job array of shards, the shards are merged, and the merge must equal the
# unsharded run. Then one array task's output is deleted and that task alone is submitted again:
# the merge must come out the same (shards are restartable). Exit 0 = both hold.
#
#   tools/cluster/slurm_corpus.sh            # builds nothing: BIN (default target/release, else
#                                            # target/debug) must exist
# Environment: BIN, MODEL (albert-mini), CORPUS (a file; default: the first 400 sentences of
# the built-in corpus), SHARDS (4).
# Needs root (the daemons run as root in the sandbox) and apt-get install slurm-wlm munge.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
if [ -z "${BIN:-}" ]; then
    BIN=target/release/albert-lens
    [ -x "$BIN" ] || BIN=target/debug/albert-lens
fi
BIN=$(realpath "$BIN")
MODEL=${MODEL:-albert-mini}
SHARDS=${SHARDS:-4}
for tool in munged slurmctld slurmd sbatch squeue; do
    command -v "$tool" >/dev/null || { echo "slurm_corpus: $tool is missing (apt-get install slurm-wlm munge)"; exit 2; }
done

WORK=$(mktemp -d /tmp/albert-lens-slurm.XXXXXX)
chmod 755 "$WORK"
cleanup() {
    [ -f "$WORK/slurmd.pid" ] && kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null || true
    [ -f "$WORK/slurmctld.pid" ] && kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null || true
    [ -f "$WORK/munged.pid" ] && kill "$(cat "$WORK/munged.pid")" 2>/dev/null || true
    sleep 1
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# munge: a fresh key and a socket of our own
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool" "$WORK/out"
if [ -z "${CORPUS:-}" ]; then
    CORPUS="$WORK/corpus.txt"
    head -n 400 assets/corpus/brown-heldout.txt > "$CORPUS"
fi
CORPUS=$(realpath "$CORPUS")
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
munged --force --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/socket" \
    --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munge/seed"

# two free loopback ports for the daemons
read -r CTL_PORT D_PORT < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
HOST=$(hostname -s)
cat > "$WORK/slurm.conf" <<CONF
ClusterName=albertlens
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/socket
CredType=cred/munge
SlurmctldPort=$CTL_PORT
SlurmdPort=$D_PORT
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1024 State=UNKNOWN
PartitionName=corpus Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$WORK/slurm.conf"
slurmctld
slurmd
for _ in $(seq 1 60); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mix|alloc' && break
    sleep 1
done
sinfo -h -o '%T' | grep -qE 'idle|mix|alloc' || { echo "slurm_corpus: the node never came up"; tail -20 "$WORK/slurmd.log" "$WORK/slurmctld.log"; exit 1; }

# the job array: task i runs shard i/SHARDS; a shard's output is written whole or not at all
cat > "$WORK/shard.sh" <<JOB
#!/usr/bin/env bash
set -euo pipefail
export XDG_CACHE_HOME="$WORK/cache"
exec "$BIN" corpus --model "$MODEL" --corpus "$CORPUS" --backend cpu \\
    --shard "\$SLURM_ARRAY_TASK_ID/$SHARDS" --out "$WORK/out/shard-\$SLURM_ARRAY_TASK_ID.safetensors"
JOB
chmod +x "$WORK/shard.sh"
wait_for() {
    local job=$1
    for _ in $(seq 1 600); do
        [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && return 0
        sleep 1
    done
    echo "slurm_corpus: job $job did not finish in 10 minutes"; return 1
}
submit() {
    sbatch --parsable --array="$1" --cpus-per-task=1 --output="$WORK/out/task-%a.log" \
        --chdir="$WORK" "$WORK/shard.sh"
}
JOB=$(submit "0-$((SHARDS - 1))")
echo "job array $JOB: $SHARDS shards of $CORPUS on $MODEL"
wait_for "$JOB"
for i in $(seq 0 $((SHARDS - 1))); do
    [ -s "$WORK/out/shard-$i.safetensors" ] || { echo "slurm_corpus: shard $i wrote nothing"; cat "$WORK/out/task-$i.log" || true; exit 1; }
done
export XDG_CACHE_HOME="$WORK/cache"
"$BIN" corpus merge "$WORK"/out/shard-*.safetensors --out "$WORK/merged.safetensors"
"$BIN" corpus --model "$MODEL" --corpus "$CORPUS" --backend cpu \
    --out "$WORK/whole.safetensors" >/dev/null
check() {
    python3 "$ROOT/tools/cluster/same_stats.py" "$1" "$WORK/whole.safetensors"
}
check "$WORK/merged.safetensors"

# restartable: a lost shard is run again alone, and the merge is the same
rm "$WORK/out/shard-1.safetensors"
JOB=$(submit 1)
echo "job $JOB: shard 1 again"
wait_for "$JOB"
"$BIN" corpus merge "$WORK"/out/shard-*.safetensors --out "$WORK/merged-again.safetensors"
# the re-run shard is the same computation: its merge equals the first bit for bit
python3 "$ROOT/tools/cluster/same_stats.py" "$WORK/merged.safetensors" \
    "$WORK/merged-again.safetensors" exact
check "$WORK/merged-again.safetensors"
echo "slurm_corpus: ok ($SHARDS shards on Slurm, merged = unsharded; a re-run shard merges the same)"
