#!/usr/bin/env bash
# slurm_local.sh — a throw-away single-node Slurm cluster for tests (Debian 12, slurm-wlm 22.05).
#
# Usage:
#   scripts/slurm_local.sh up       start munged + slurmctld + slurmd, wait until the node is idle
#   scripts/slurm_local.sh down     stop them by their recorded pids, delete the network namespace
#   scripts/slurm_local.sh status   say what is running and what sinfo reports
#   scripts/slurm_local.sh env      print the shell lines a client needs (SLURM_CONF, the netns)
#   scripts/slurm_local.sh exec CMD [ARGS...]
#                                   run CMD inside the cluster's network namespace with
#                                   SLURM_CONF set (sbatch, squeue, scontrol, scancel, ...)
#
# How it works (measured on Debian 12 with slurm-wlm 22.05; slurm/README.md, "A local Slurm for tests"):
#   * every daemon runs inside a private network namespace whose only interface is loopback
#     (127.0.0.1 plus 127.0.0.2, because Slurm resolves names with AI_ADDRCONFIG); nothing
#     listens on the machine's real interfaces. Processes enter the namespace with
#     `nsenter --net=/run/netns/NAME`, not `ip netns exec` (which remounts /sys and breaks
#     slurmd's cgroup probing).
#   * munge gets a fresh key and its own socket in the state folder; slurm.conf points
#     AuthInfo at that socket, so the machine's own munge (if any) is never touched.
#   * state, spool, logs, pid files and slurm.conf live under $SLURM_LOCAL_DIR; the pids
#     that `up` starts are written to $SLURM_LOCAL_DIR/pids/*.pid and `down` kills exactly
#     those (TERM, then KILL after a grace period), never processes found by name.
#   * client commands must run in the same namespace: use `slurm_local.sh exec sbatch ...`,
#     or `nsenter --net=/run/netns/$SLURM_LOCAL_NETNS env SLURM_CONF=... sbatch ...`.
#
# Requirements: root (network namespaces, SlurmUser=root), iproute2 (`ip netns`), nsenter,
# and the Debian packages slurm-wlm slurmctld slurmd munge. This script installs nothing;
# it names what is missing and exits 3 (so a test can print SKIP).
#
# Exit codes: 0 ok, 1 failure (the relevant log is printed), 2 usage, 3 cannot run here.
set -euo pipefail

# ---- knobs ---------------------------------------------------------------------------
SLURM_LOCAL_DIR="${SLURM_LOCAL_DIR:-/tmp/hfedmoe-slurm-local}"   # all state of the cluster
SLURM_LOCAL_NETNS="${SLURM_LOCAL_NETNS:-hfedmoe-slurm}"          # network namespace name
SLURM_LOCAL_CPUS="${SLURM_LOCAL_CPUS:-$(nproc)}"                  # CPUs the node offers (may exceed nproc)
SLURM_LOCAL_WAIT_S="${SLURM_LOCAL_WAIT_S:-30}"                    # how long `up` waits for idle
SLURM_LOCAL_STOP_GRACE_S="${SLURM_LOCAL_STOP_GRACE_S:-10}"        # TERM -> KILL grace at `down`
# --------------------------------------------------------------------------------------

CONF="$SLURM_LOCAL_DIR/slurm.conf"
PIDS="$SLURM_LOCAL_DIR/pids"
NSPATH="/run/netns/$SLURM_LOCAL_NETNS"

say() { echo "slurm_local: $*"; }
die() { echo "slurm_local: error: $*" >&2; exit 1; }

# `up` empties $SLURM_LOCAL_DIR, so it must be a folder this script made: an absolute path
# two levels deep or more, and absent, empty or holding the marker `up` leaves in it.
MARKER=.hfedmoe-slurm-local
check_state_dir() {
  local d=$SLURM_LOCAL_DIR
  [[ $d == /* ]] || { echo "slurm_local: error: SLURM_LOCAL_DIR='$d' is not an absolute path; set it to a new folder such as /tmp/hfedmoe-slurm-local" >&2; exit 2; }
  [[ $d =~ ^(/[^/]+){2,}/?$ && ! $d =~ /\.\.?(/|$) ]] ||
    { echo "slurm_local: error: SLURM_LOCAL_DIR='$d' is too close to / to be emptied; set it to a new folder such as /tmp/hfedmoe-slurm-local" >&2; exit 2; }
  if [[ -e $d && ! -f $d/$MARKER && -n $(ls -A "$d" 2>/dev/null) ]]; then
    echo "slurm_local: error: SLURM_LOCAL_DIR='$d' exists and was not made by this script (no $MARKER); `up` would delete it: set SLURM_LOCAL_DIR to a new folder" >&2
    exit 2
  fi
}

# Checks that this machine can run the cluster; prints why not and returns 3 otherwise.
preflight() {
  if [[ "$(id -u)" != 0 ]]; then
    say "cannot run: needs root (network namespaces, SlurmUser=root)"; return 3
  fi
  local missing_cmds=() pkgs=()
  command -v ip >/dev/null || missing_cmds+=(ip)
  command -v nsenter >/dev/null || missing_cmds+=(nsenter)
  if ((${#missing_cmds[@]})); then
    say "cannot run: missing ${missing_cmds[*]} (Debian packages iproute2, util-linux)"; return 3
  fi
  if ! ip netns list >/dev/null 2>&1; then
    say "cannot run: 'ip netns' does not work here (no network namespace support)"; return 3
  fi
  command -v munged >/dev/null && command -v mungekey >/dev/null || pkgs+=(munge)
  command -v slurmctld >/dev/null || pkgs+=(slurmctld)
  command -v slurmd >/dev/null || pkgs+=(slurmd)
  command -v sbatch >/dev/null && command -v sinfo >/dev/null || pkgs+=(slurm-client)
  if ((${#pkgs[@]})); then
    say "cannot run: missing Debian packages: ${pkgs[*]}"
    say "install with: apt-get install -y --no-install-recommends slurm-wlm slurmctld slurmd munge"
    return 3
  fi
  return 0
}

in_ns() { nsenter --net="$NSPATH" env SLURM_CONF="$CONF" "$@"; }

pid_alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# start NAME CMD...: starts CMD in its own session inside the namespace, records its pid.
start() {
  local name=$1; shift
  setsid nsenter --net="$NSPATH" env SLURM_CONF="$CONF" "$@" \
    >"$SLURM_LOCAL_DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

write_conf() {
  local d=$SLURM_LOCAL_DIR
  cat >"$CONF" <<CONF_EOF
# Written by scripts/slurm_local.sh: a one-node cluster in netns $SLURM_LOCAL_NETNS.
ClusterName=hfedmoe-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket.2
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/slurmd
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
# Short timers so tests do not wait: finished jobs are forgotten after MinJobAge seconds.
MinJobAge=300
KillWait=5
# The node offers SLURM_LOCAL_CPUS even beyond the machine's cores, so templates shaped for
# real nodes (several tasks x several CPUs) run here as shipped.
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$SLURM_LOCAL_CPUS State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF_EOF
}

node_state() { in_ns timeout 3 sinfo -h -o %T 2>/dev/null | head -n1 || true; }

cmd_up() {
  check_state_dir
  preflight || exit $?
  if [[ -f "$PIDS/slurmctld.pid" ]] && pid_alive "$(cat "$PIDS/slurmctld.pid")"; then
    die "a cluster is already up in $SLURM_LOCAL_DIR (run '$0 down' first)"
  fi
  if ip netns list | awk '{print $1}' | grep -qx "$SLURM_LOCAL_NETNS"; then
    die "network namespace $SLURM_LOCAL_NETNS exists already (stale? 'ip netns del $SLURM_LOCAL_NETNS', or set SLURM_LOCAL_NETNS)"
  fi
  rm -rf "$SLURM_LOCAL_DIR"
  mkdir -p "$SLURM_LOCAL_DIR"/{munge,state,spool/slurmd,run,log} "$PIDS"
  touch "$SLURM_LOCAL_DIR/$MARKER"
  chmod 755 "$SLURM_LOCAL_DIR" "$SLURM_LOCAL_DIR/munge"

  ip netns add "$SLURM_LOCAL_NETNS"
  ip -n "$SLURM_LOCAL_NETNS" link set lo up
  ip -n "$SLURM_LOCAL_NETNS" addr add 127.0.0.2/8 dev lo

  local m=$SLURM_LOCAL_DIR/munge
  mungekey -c -k "$m/munge.key" >/dev/null
  chmod 600 "$m/munge.key"
  start munged munged -F --key-file="$m/munge.key" --socket="$m/munge.socket.2" \
    --pid-file="$m/munged.pid" --seed-file="$m/munge.seed" --log-file="$SLURM_LOCAL_DIR/log/munged.log"
  local i
  for ((i = 0; i < 50; i++)); do [[ -S "$m/munge.socket.2" ]] && break; sleep 0.1; done
  [[ -S "$m/munge.socket.2" ]] || { cat "$SLURM_LOCAL_DIR"/log/munged.* >&2 || true; die "munged did not start"; }

  write_conf
  start slurmctld slurmctld -D -f "$CONF"
  start slurmd slurmd -D -N localhost -f "$CONF"

  local state="" deadline=$((SECONDS + SLURM_LOCAL_WAIT_S))
  while ((SECONDS < deadline)); do
    state=$(node_state)
    [[ "$state" == idle ]] && break
    for name in munged slurmctld slurmd; do
      pid_alive "$(cat "$PIDS/$name.pid")" || { tail -n 30 "$SLURM_LOCAL_DIR"/log/"$name"* >&2 || true; die "$name exited during start-up"; }
    done
    sleep 0.3
  done
  if [[ "$state" != idle ]]; then
    tail -n 30 "$SLURM_LOCAL_DIR"/log/slurm*.log >&2 || true
    die "node not idle after ${SLURM_LOCAL_WAIT_S}s (state '${state:-none}'); logs in $SLURM_LOCAL_DIR/log"
  fi
  say "up: node localhost idle with $SLURM_LOCAL_CPUS CPUs (netns $SLURM_LOCAL_NETNS, state in $SLURM_LOCAL_DIR)"
  say "clients: $0 exec sbatch ...   or: eval \"\$($0 env)\" then nsenter --net=\$SLURM_LOCAL_NSPATH sbatch ..."
}

cmd_down() {
  local name pid i
  for name in slurmd slurmctld munged; do
    [[ -f "$PIDS/$name.pid" ]] || continue
    pid=$(cat "$PIDS/$name.pid")
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < SLURM_LOCAL_STOP_GRACE_S * 10; i++)); do pid_alive "$pid" || break; sleep 0.1; done
      if pid_alive "$pid"; then say "$name (pid $pid) ignored TERM; sending KILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$PIDS/$name.pid"
  done
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$SLURM_LOCAL_NETNS"; then
    ip netns del "$SLURM_LOCAL_NETNS"
  fi
  say "down (state kept in $SLURM_LOCAL_DIR for inspection)"
}

cmd_status() {
  local name pid rc=0
  for name in munged slurmctld slurmd; do
    pid=$(cat "$PIDS/$name.pid" 2>/dev/null || true)
    if pid_alive "$pid"; then say "$name running (pid $pid)"; else say "$name not running"; rc=1; fi
  done
  if [[ -e "$NSPATH" ]]; then
    say "sinfo: $(in_ns timeout 3 sinfo -h -o '%P %T %c' 2>&1 | tr '\n' ' ')"
  else
    say "network namespace $SLURM_LOCAL_NETNS absent"; rc=1
  fi
  return $rc
}

cmd_env() {
  echo "export SLURM_CONF='$CONF'"
  echo "export SLURM_LOCAL_NSPATH='$NSPATH'"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  exec) shift; [[ $# -gt 0 ]] || { echo "usage: $0 exec CMD [ARGS...]" >&2; exit 2; }; in_ns "$@" ;;
  preflight) preflight ;;
  *) echo "usage: $0 up|down|status|env|preflight|exec CMD..." >&2; exit 2 ;;
esac
