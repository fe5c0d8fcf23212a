#!/usr/bin/env bash
# Bring up a throw-away one-node Slurm cluster on this host, run a command
# inside it, and tear the cluster down again.
#
#   tests/slurm/cluster.sh CMD [ARGS...]
#
# Everything the cluster writes (slurm.conf, state, spool, logs, the munge
# key, socket, pid and log files) lives in a fresh `mktemp -d` directory;
# nothing is written to /etc. CMD runs in the caller's working directory
# with SLURM_CONF exported, so sbatch/squeue/scancel/sinfo/scontrol (and
# dask-jobqueue's SLURMCluster) talk to this cluster. The script exits with
# CMD's exit status, or non-zero with a message if the cluster did not come
# up. Daemons are stopped by pid on exit, failure, Ctrl-C or SIGTERM.
#
# Environment:
#   KEEP_SLURM_TMP=1       keep the temp dir (config, logs) after the run
#   SLURM_UP_TIMEOUT=60    seconds to wait for the node to become idle
#
# Needs root (slurmd launches jobs as root here; SlurmUser=SlurmdUser=root).
# Missing daemons are installed with `apt-get install -y slurm-wlm munge`.
set -euo pipefail

PROG=cluster.sh
log() { printf '[%s] %s\n' "$PROG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,20s/^# \{0,1\}//p' "$0" >&2
    [[ $# -ge 1 ]] && exit 0
    exit 2
fi

# The daemons live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# ---------------------------------------------------------------- install --
missing=()
for tool in slurmctld slurmd munged sbatch; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        die "missing ${missing[*]}; install them as root: apt-get install -y slurm-wlm munge"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "missing ${missing[*]} and no apt-get; install Slurm (slurmctld, slurmd, sbatch) and munge"
    log "missing ${missing[*]}: apt-get install -y slurm-wlm munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge >&2 \
        || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge >&2; } \
        || die "apt-get install -y slurm-wlm munge failed"
    for tool in slurmctld slurmd munged sbatch; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after installing slurm-wlm munge"
    done
fi
[[ $EUID -eq 0 ]] || die "must run as root (slurmd runs as root to launch jobs); try: sudo $0 $*"

# ------------------------------------------------------------ state/cleanup --
TMP=""
MUNGED_PID=""
SLURMCTLD_PID=""
SLURMD_PID=""
CLEANED=0

# alive PID: the process exists and is not a zombie.
alive() {
    local pid=$1 stat
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    { stat=$(</proc/"$pid"/stat); } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# stop NAME PID: SIGTERM, wait up to 10 s, then SIGKILL; reap it.
stop() {
    local name=$1 pid=$2 i
    [[ -n $pid ]] || return 0
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# pids of leftover processes (a stray slurmstepd) with a file of $TMP open.
tmp_holders() {
    local fd pid
    find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 -lname "$TMP/*" 2>/dev/null |
        while IFS= read -r fd; do
            pid=${fd#/proc/}
            pid=${pid%%/*}
            [[ $pid != "$$" ]] && printf '%s\n' "$pid"
        done | sort -u
}

tail_logs() {
    local f
    for f in "$TMP"/slurmctld.log "$TMP"/slurmctld.out "$TMP"/slurmd.log \
        "$TMP"/slurmd.out "$TMP"/munged.log "$TMP"/munged.out; do
        [[ -s $f ]] || continue
        printf -- '----- tail %s -----\n' "$f" >&2
        tail -n 25 "$f" >&2 || true
    done
}

# shellcheck disable=SC2317  # cleanup and on_signal are called from traps
cleanup() {
    local rc=$? i pid jobs steps="" left
    trap - EXIT
    trap '' INT TERM HUP # finish the teardown even on a second Ctrl-C
    ((CLEANED)) && exit "$rc"
    CLEANED=1
    set +e
    # Job step daemons of this cluster: slurmstepd processes that keep
    # slurmd.log open.
    if [[ -n $TMP && -d $TMP ]]; then
        for pid in $(tmp_holders); do
            [[ $(cat /proc/"$pid"/comm 2>/dev/null) == slurmstepd ]] && steps+=" $pid"
        done
    fi
    if [[ -n $SLURMCTLD_PID ]] && alive "$SLURMCTLD_PID" && [[ -n $SLURMD_PID ]] && alive "$SLURMD_PID"; then
        # slurmd leaves running job steps alone when it stops: cancel the jobs
        # still queued or running, and give all (also COMPLETING ones) up to
        # 10 s to finish.
        jobs=$(squeue -h -t PD,R,S,CF,RQ,RS,RH,SI,SO,ST -o %A 2>/dev/null)
        if [[ -n $jobs ]]; then
            log "cancelling leftover jobs: $(tr '\n' ' ' <<<"$jobs")"
            # shellcheck disable=SC2086  # one job id per word
            scancel $jobs 2>/dev/null
        fi
        for ((i = 0; i < 50; i++)); do
            [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    # Give the job step daemons up to 5 s to exit on their own (a zombie
    # waiting for init to reap it counts as gone).
    for ((i = 0; i < 50; i++)); do
        left=0
        for pid in $steps; do
            alive "$pid" && left=1
        done
        ((left)) || break
        sleep 0.1
    done
    stop slurmd "$SLURMD_PID"
    stop slurmctld "$SLURMCTLD_PID"
    stop munged "$MUNGED_PID"
    if [[ -n $TMP && -d $TMP ]]; then
        # Anything still holding a file in $TMP (a stray slurmstepd) is ours.
        for pid in $(tmp_holders); do
            log "killing leftover process $pid: $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)"
            kill -KILL "$pid" 2>/dev/null
        done
    fi
    # An exited slurmstepd is reparented to init, which may take a moment
    # to reap it; wait (up to 3 s) so that no <defunct> entry outlives us.
    # (One that exited before we looked has no open files to tell whose it
    # is: wait for any zombie slurmstepd of init's; nothing is killed here.)
    steps+=" $(grep -l '^[0-9]* (slurmstepd) Z 1 ' /proc/[0-9]*/stat 2>/dev/null | cut -d/ -f3 | tr '\n' ' ')"
    for ((i = 0; i < 30; i++)); do
        left=0
        for pid in $steps; do
            [[ -e /proc/$pid ]] && left=1
        done
        ((left)) || break
        sleep 0.1
    done
    [[ -n $MUNGED_PID ]] && log "stopped slurmd (pid ${SLURMD_PID:--}), slurmctld (pid ${SLURMCTLD_PID:--}), munged (pid $MUNGED_PID)"
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ ${KEEP_SLURM_TMP:-0} == 1 ]]; then
            log "kept $TMP (KEEP_SLURM_TMP=1)"
        else
            rm -rf -- "$TMP"
        fi
    fi
    exit "$rc"
}
CMD_PID=""
# INT/TERM/HUP: before CMD runs, tear down at once. While CMD runs, pass
# TERM/HUP on to it (a Ctrl-C at the terminal reaches CMD by itself, being in
# our process group) and tear down once it has exited.
# shellcheck disable=SC2317
on_signal() {
    local sig=$1 code=$2
    if [[ -n $CMD_PID ]]; then # the wait loop below collects CMD's status
        if alive "$CMD_PID"; then
            log "got SIG$sig; waiting for the command (pid $CMD_PID) to exit"
            [[ $sig == INT ]] || kill -"$sig" "$CMD_PID" 2>/dev/null || true
        fi
        return 0
    fi
    log "got SIG$sig; tearing down"
    exit "$code"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# ------------------------------------------------------------------ config --
TMP=$(mktemp -d "${TMPDIR:-/tmp}/slurm-test.XXXXXX")
chmod 0755 "$TMP" # jobs and client tools must reach the munge socket
# A unix socket path must fit in sun_path (108 bytes).
((${#TMP} < 80)) || die "temp dir path too long for the munge socket: $TMP (set TMPDIR shorter)"

NODE=$(hostname -s)
CPUS=$(nproc)
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
MEM_MB=$((mem_kb / 1024 * 95 / 100)) # a bit under MemTotal, so the node is not INVAL
DEF_MEM=$((MEM_MB / CPUS))            # default --mem-per-cpu: all cpus usable at once

# Two distinct free TCP ports.
free_ports() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" - <<'EOF' && return 0
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
        fi
    done
    # No python: probe random high ports with bash's /dev/tcp.
    local ports=() p
    while ((${#ports[@]} < 2)); do
        p=$((20000 + RANDOM % 40000))
        [[ " ${ports[*]} " == *" $p "* ]] && continue
        (: </dev/tcp/127.0.0.1/"$p") 2>/dev/null || ports+=("$p")
    done
    echo "${ports[*]}"
}
read -r CTLD_PORT SLURMD_PORT < <(free_ports)
[[ -n ${CTLD_PORT:-} && -n ${SLURMD_PORT:-} ]] || die "could not find two free TCP ports"

mkdir -p "$TMP"/state "$TMP"/spool "$TMP"/munge
chmod 0755 "$TMP"/munge
MUNGE_SOCKET=$TMP/munge/munge.socket
MUNGE_KEY=$TMP/munge/munge.key
CONF=$TMP/slurm.conf
: >"$TMP"/plugstack.conf # do not pick up /etc/slurm/plugstack.conf

cat >"$CONF" <<EOF
# one-node test cluster written by tests/slurm/cluster.sh
ClusterName=testcluster
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$DEF_MEM
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=1
ReturnToService=2
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
PlugStackConfig=$TMP/plugstack.conf
MailProg=/bin/true
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
MinJobAge=300
KillWait=5
WaitTime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# Client commands (and jobs, which inherit the submit environment) use this
# cluster only; drop Slurm variables of any enclosing allocation.
while IFS= read -r var; do
    unset "$var"
done < <(compgen -e | grep -E '^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCANCEL)_' || true)
export SLURM_CONF=$CONF

log "temp dir   $TMP (KEEP_SLURM_TMP=1 keeps it)"
log "node       $NODE: CPUs=$CPUS RealMemory=${MEM_MB}M, partition debug"
log "ports      slurmctld $CTLD_PORT, slurmd $SLURMD_PORT"

# ------------------------------------------------------------------- munge --
if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile="$MUNGE_KEY" >/dev/null
else
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
fi
chmod 0400 "$MUNGE_KEY"

# All daemons run in the foreground (munged -F, slurm* -D) in the background
# of this shell, so $! is the daemon's own pid (setsid does not fork: a
# background child is no process group leader). setsid puts them in their own
# session: a Ctrl-C at the terminal reaches CMD but not the daemons, which
# the EXIT trap stops after CMD has cleaned up. --force lets munged run as
# root and accept a key and socket under /tmp; in the foreground it logs to
# stderr (munged.out) rather than to --log-file.
setsid munged -F --force \
    --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" \
    --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/munged.log" \
    --seed-file="$TMP/munge/munged.seed" \
    >"$TMP"/munged.out 2>&1 &
MUNGED_PID=$!
for ((i = 0; i < 100; i++)); do
    [[ -S $MUNGE_SOCKET ]] && break
    alive "$MUNGED_PID" || break
    sleep 0.1
done
if [[ ! -S $MUNGE_SOCKET ]]; then
    tail_logs
    die "munged did not create its socket $MUNGE_SOCKET"
fi

# ------------------------------------------------------------------- slurm --
setsid slurmctld -D -c -f "$CONF" >"$TMP"/slurmctld.out 2>&1 &
SLURMCTLD_PID=$!
setsid slurmd -D -f "$CONF" -N "$NODE" >"$TMP"/slurmd.out 2>&1 &
SLURMD_PID=$!

log "daemons    munged pid $MUNGED_PID, slurmctld pid $SLURMCTLD_PID, slurmd pid $SLURMD_PID"
log "SLURM_CONF=$SLURM_CONF"

UP_TIMEOUT=${SLURM_UP_TIMEOUT:-60}
state=""
start=$SECONDS
while :; do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1) || state=""
    [[ $state == idle ]] && break
    for d in munged:"$MUNGED_PID" slurmctld:"$SLURMCTLD_PID" slurmd:"$SLURMD_PID"; do
        if ! alive "${d#*:}"; then
            tail_logs
            die "${d%%:*} (pid ${d#*:}) exited while the cluster was starting"
        fi
    done
    if ((SECONDS - start >= UP_TIMEOUT)); then
        scontrol show node "$NODE" >&2 2>/dev/null || true
        tail_logs
        die "node $NODE not idle after ${UP_TIMEOUT}s (state: ${state:-no answer from slurmctld})"
    fi
    sleep 0.5
done
log "node $NODE is idle after $((SECONDS - start))s; running: $*"

# --------------------------------------------------------------------- run --
# CMD runs in the background so that the signal traps above run while it
# runs (bash defers traps until a foreground command ends). Unlike bash's
# default for background commands, it keeps our stdin and does not ignore
# SIGINT/SIGQUIT, so it behaves as in the foreground.
(
    trap - INT QUIT TERM HUP
    exec "$@"
) <&0 &
CMD_PID=$!
rc=0
while :; do
    wait "$CMD_PID" && rc=0 || rc=$?
    alive "$CMD_PID" && continue # wait was cut short by a signal trap
    # If that wait was cut short just as CMD ended, collect its real status.
    wait "$CMD_PID" 2>/dev/null && rc=0 || { r=$?; ((r == 127)) || rc=$r; }
    break
done
log "command exited with status $rc"
exit "$rc"
