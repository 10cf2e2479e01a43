#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for laptops, tests and CI.
#
#   slurm/local-cluster.sh start  [--dir DIR]   install if needed, start, print `export SLURM_CONF=...`
#   slurm/local-cluster.sh stop   [--dir DIR]   stop the daemons this script started
#   slurm/local-cluster.sh status [--dir DIR]   up/down per daemon; sinfo when up
#
# DIR (default ${CYCLECAST_SLURM_DIR:-/tmp/cyclecast-slurm}) holds slurm.conf, state,
# spool, PID files and logs. Exit codes: 0 ok/up, 1 error, 2 usage, 3 down (status),
# 4 this machine cannot run it (the reason is printed; tests skip on it).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${CYCLECAST_SLURM_DIR:-/tmp/cyclecast-slurm}
CLUSTER_NAME=${CYCLECAST_SLURM_CLUSTER:-cyclecast}
SLURMCTLD_PORT=${CYCLECAST_SLURMCTLD_PORT:-6917}
SLURMD_PORT=${CYCLECAST_SLURMD_PORT:-6918}
START_TIMEOUT_S=30
PACKAGES=(slurm-wlm munge)
APT_CMD="apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}"
EXIT_DOWN=3
EXIT_CANNOT=4

usage() { echo "usage: $0 start|stop|status [--dir DIR]" >&2; exit 2; }
say() { echo "local-cluster: $*" >&2; }
die() { echo "local-cluster: $*" >&2; exit 1; }
cannot() { echo "local-cluster: cannot run here: $*" >&2; exit "$EXIT_CANNOT"; }

[ $# -ge 1 ] || usage
cmd=$1; shift
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#--dir=}; shift ;;
    *) usage ;;
  esac
done
case $cmd in start|stop|status) ;; *) usage ;; esac
DIR=$(realpath -m -- "$DIR")
CONF=$DIR/slurm.conf
# munged serves every cluster on the machine, so whether this script started it is recorded
# machine-wide, not in DIR: the last cluster to stop then stops it, whichever DIR it uses.
MUNGED_OURS=/run/lock/cyclecast-munged.pid
export SLURM_CONF=$CONF

# --- processes -----------------------------------------------------------------------
# Our daemons are the ones started as `NAME -f $CONF`. pid_of NAME prints the PID from
# DIR/NAME.pid if that process is alive and is ours; failing that, it looks for such a
# process among all (e.g. one whose PID file was lost), reading /proc only.
is_ours() {  # is_ours PID NAME
  [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
  [ "$2" = munged ] && return 0
  [ "$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" = "$2 -f $CONF " ]
}
pid_of() {
  local name=$1 file pid p
  file=$DIR/$name.pid
  [ "$name" = munged ] && file=$MUNGED_OURS
  if [ -r "$file" ]; then
    pid=$(tr -dc '0-9' < "$file")
    [ -n "$pid" ] && is_ours "$pid" "$name" && { echo "$pid"; return 0; }
  fi
  [ "$name" = munged ] && return 1      # munged: only the one this script started
  for p in /proc/[0-9]*; do
    is_ours "${p#/proc/}" "$name" && { echo "${p#/proc/}"; return 0; }
  done
  return 1
}

stop_daemons() {  # stop_daemons NAME...: TERM all at once, wait up to 15 s, then KILL
  local name pid i names=() pids=()
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      names+=("$name"); pids+=("$pid"); kill -TERM "$pid" 2>/dev/null || true
    else
      [ "$name" = munged ] || rm -f "$DIR/$name.pid"
      say "$name: not running"
    fi
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}; name=${names[$i]}
    for _ in $(seq 150); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then
      say "$name (pid $pid) did not exit after 15 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    if [ "$name" = munged ]; then rm -f "$MUNGED_OURS"; else rm -f "$DIR/$name.pid"; fi
    say "$name: stopped (pid $pid)"
  done
}

lock_dir() {  # serialise start/stop on one DIR (two test sessions, a user and CI, ...)
  exec 9>>"$DIR/.lock"
  flock -w 120 9 || die "another start/stop on $DIR holds $DIR/.lock"
}

# munged is shared by every cluster on the machine: starting it, and stopping it once no
# Slurm daemon is left, happen under one machine-wide lock.
MACHINE_LOCK=/run/lock/cyclecast-local-cluster.lock
machine_lock() {
  mkdir -p "$(dirname "$MACHINE_LOCK")"
  exec 8>>"$MACHINE_LOCK"
  flock -w 120 8 || die "timed out waiting for $MACHINE_LOCK"
}
machine_unlock() { exec 8>&-; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
installed() { command -v slurmctld && command -v slurmd && command -v sinfo \
              && command -v munged && command -v munge; } >/dev/null 2>&1
node_name() { sed -n 's/^NodeName=\([^ ]*\) .*/\1/p' "$CONF" 2>/dev/null | head -n 1; }
node_state() { sinfo -h -N -n "$(node_name)" -o %t 2>/dev/null | head -n 1; }

# --- status ---------------------------------------------------------------------------
daemon_line() {  # daemon_line NAME: prints "NAME: up (pid N)" or "NAME: down"
  local pid
  if pid=$(pid_of "$1"); then echo "$1: up (pid $pid)"; else echo "$1: down"; fi
}

cluster_up() {
  [ -f "$CONF" ] && pid_of slurmctld >/dev/null && pid_of slurmd >/dev/null && munge_works
}

do_status() {  # the report; returns 0 if up, $EXIT_DOWN if not
  local owner="" pid
  echo "dir: $DIR"
  if munge_works; then
    if pid=$(pid_of munged); then owner=", started by this script (pid $pid)"
    else owner=", not started by this script"; fi
    echo "munged: up$owner"
  else
    echo "munged: down"
  fi
  daemon_line slurmctld
  daemon_line slurmd
  if cluster_up; then
    sinfo -N -l 2>&1 || true
    return 0
  fi
  return "$EXIT_DOWN"
}

# --- start ----------------------------------------------------------------------------
ensure_installed() {
  installed && return 0
  if [ "$(id -u)" -ne 0 ]; then
    cannot "Slurm/munge are not installed and this is not root; as root run: $APT_CMD"
  fi
  command -v apt-get >/dev/null || cannot "Slurm/munge are not installed and there is no apt-get (Debian/Ubuntu only)"
  say "installing Debian packages: ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  fi
  installed || die "packages installed but slurmctld/slurmd/munged still missing from PATH"
}

python_with_jinja2() {
  local py
  for py in "$REPO/.venv/bin/python" python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import jinja2' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  die "no Python with jinja2 (expected $REPO/.venv; run \`make setup\` first)"
}

render_conf() {
  local py node_line
  py=$(python_with_jinja2)
  node_line=$(slurmd -C | head -n 1)
  [[ $node_line == NodeName=* ]] || die "unexpected \`slurmd -C\` output: $node_line"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  # Values travel in the environment, so no path or name needs quoting for Python.
  (cd "$REPO" && NODE_LINE=$node_line CONTROL_HOST=$(hostname -s) \
     CLUSTER_NAME=$CLUSTER_NAME SLURMCTLD_PORT=$SLURMCTLD_PORT SLURMD_PORT=$SLURMD_PORT \
     DIR=$DIR "$py" -c '
import os, sys
from driver.render import render
e = os.environ
d = e["DIR"]
node_line = e["NODE_LINE"].strip()
text = render("slurm.conf.j2",
              cluster_name=e["CLUSTER_NAME"], control_host=e["CONTROL_HOST"],
              slurmctld_port=int(e["SLURMCTLD_PORT"]), slurmd_port=int(e["SLURMD_PORT"]),
              state_dir=d + "/state", spool_dir=d + "/spool",
              slurmctld_pid=d + "/slurmctld.pid", slurmd_pid=d + "/slurmd.pid",
              slurmctld_log=d + "/log/slurmctld.log", slurmd_log=d + "/log/slurmd.log",
              jobcomp_log=d + "/log/jobcomp.txt",
              node_line=node_line, node_name=node_line.split()[0].split("=", 1)[1])
open(sys.argv[1], "w").write(text)
' "$CONF.tmp")
  mv "$CONF.tmp" "$CONF"
}

ensure_munged() {
  if munge_works; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating munge key /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    mungekey -c -k /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0600 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  mkdir -p "$(dirname "$MUNGED_OURS")"
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  # 8>&- 9>&-: a daemon must not inherit (and so hold forever) one of our locks.
  runuser -u munge -- munged 8>&- 9>&-   # forks into the background once its socket is ready
  local i
  for i in $(seq 50); do munge_works && break; sleep 0.1; done
  munge_works || die "munged did not come up; see /var/log/munge/munged.log"
  cp /run/munge/munged.pid "$MUNGED_OURS"
  say "munged: started (pid $(cat "$MUNGED_OURS"))"
}

show_logs() {
  local f
  for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
    [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
  done
  return 0
}

start_daemon() {  # start_daemon NAME PORT
  local name=$1 port=$2
  pid_of "$name" >/dev/null && return 0
  port_busy "$port" && die "port $port is in use (another Slurm, or a cluster under another --dir?);" \
    "choose other ports with CYCLECAST_SLURMCTLD_PORT / CYCLECAST_SLURMD_PORT"
  "$name" -f "$CONF" 8>&- 9>&- || { show_logs; die "$name failed to start"; }
}

do_start() {
  if cluster_up; then
    say "already up"
    do_status >&2
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  [ "$(uname -s)" = Linux ] || cannot "needs Linux (found $(uname -s))"
  ensure_installed
  [ "$(id -u)" -eq 0 ] || cannot "needs root (slurmd starts job steps as the submitting user)"
  local t0=$SECONDS state=""
  mkdir -p "$DIR"
  lock_dir
  if cluster_up; then  # someone else started it while we waited for the lock
    say "already up"; do_status >&2; echo "export SLURM_CONF=$CONF"; return 0
  fi
  machine_lock
  ensure_munged
  # Render only when no daemon of ours runs: never change the file under a live daemon.
  pid_of slurmctld >/dev/null || pid_of slurmd >/dev/null || render_conf
  start_daemon slurmctld "$SLURMCTLD_PORT"
  start_daemon slurmd "$SLURMD_PORT"
  machine_unlock
  while [ $((SECONDS - t0)) -lt "$START_TIMEOUT_S" ]; do
    state=$(node_state || true)
    case $state in idle|mix|alloc|comp) break ;; esac
    sleep 0.2
    if [ $((SECONDS - t0)) -ge 2 ]; then  # a daemon that failed after forking is gone by now
      pid_of slurmctld >/dev/null || { show_logs; die "slurmctld exited"; }
      pid_of slurmd >/dev/null || { show_logs; die "slurmd exited"; }
    fi
  done
  case $state in
    idle|mix|alloc|comp) ;;
    *) show_logs; sinfo -R >&2 || true
       die "node not usable after ${START_TIMEOUT_S} s (state: ${state:-no answer})" ;;
  esac
  say "up in $((SECONDS - t0)) s"
  do_status >&2
  echo "export SLURM_CONF=$CONF"
}

# --- stop -----------------------------------------------------------------------------
do_stop() {
  local jobs i
  [ -d "$DIR" ] || { say "nothing to stop: no $DIR"; return 0; }
  lock_dir
  if pid_of slurmctld >/dev/null && [ -f "$CONF" ]; then
    # Cancel what is still queued or running, so no job steps outlive the cluster.
    jobs=$(squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      say "cancelling jobs: $(echo $jobs)"
      scancel $jobs 2>/dev/null || true
      for i in $(seq 100); do
        [ -z "$(squeue -h -o %A 2>/dev/null || true)" ] && break
        sleep 0.1
      done
    fi
  fi
  stop_daemons slurmd slurmctld
  machine_lock
  if ! pid_of munged >/dev/null; then
    rm -f "$MUNGED_OURS"
    say "munged: left as it was (not started by this script)"
  elif { pgrep -x slurmctld || pgrep -x slurmd || pgrep -x slurmstepd; } >/dev/null; then
    # Another Slurm on this machine (a second cluster, a site install) still needs it.
    say "munged: left running (started by this script, but other Slurm daemons use it)"
  else
    stop_daemons munged
  fi
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status && echo "export SLURM_CONF=$CONF" ;;
esac
