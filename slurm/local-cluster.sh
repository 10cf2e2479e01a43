#!/usr/bin/env bash
# A real Slurm cluster on this machine, for laptops, tests and CI: one node, or several
# slurmd each in its own Linux network namespace (multi-node mode, --nodes N with N >= 2).
#
#   slurm/local-cluster.sh start  [--dir DIR] [--nodes N]  install if needed, start, print
#                                        `export SLURM_CONF=...` (and, with N >= 2,
#                                        `export CYCLECAST_SLURM_NODELIST=ccnode1,...`)
#   slurm/local-cluster.sh stop   [--dir DIR]   stop the daemons this script started; remove
#                                        the namespaces, veths and bridge it created
#   slurm/local-cluster.sh status [--dir DIR]   up/down per daemon and node; sinfo when up
#   slurm/local-cluster.sh stop-node  NAME [--dir DIR]   multi-node: kill one node (its slurmd
#                                        and every process left in its namespace)
#   slurm/local-cluster.sh start-node NAME [--dir DIR]   multi-node: start it again, wait for idle
#
# DIR (default ${CYCLECAST_SLURM_DIR:-/tmp/cyclecast-slurm}) holds slurm.conf, state,
# spool, PID files and logs. N defaults to ${CYCLECAST_SLURM_NODES:-1}; stop, status and
# the node commands find the mode of DIR themselves. Exit codes: 0 ok/up, 1 error,
# 2 usage, 3 down or partly down (status), 4 this machine cannot run it (the reason is
# printed; tests skip on it).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${CYCLECAST_SLURM_DIR:-/tmp/cyclecast-slurm}
CLUSTER_NAME=${CYCLECAST_SLURM_CLUSTER:-cyclecast}
SLURMCTLD_PORT=${CYCLECAST_SLURMCTLD_PORT:-6917}
SLURMD_PORT=${CYCLECAST_SLURMD_PORT:-6918}
START_TIMEOUT_S=30
NODES=${CYCLECAST_SLURM_NODES:-1}
SUBNET=${CYCLECAST_SLURM_SUBNET:-}   # multi-node: A.B.C for A.B.C.0/24; default 10.217.X
PACKAGES=(slurm-wlm munge)
APT_CMD="apt-get update && apt-get install -y --no-install-recommends ${PACKAGES[*]}"
EXIT_DOWN=3
EXIT_CANNOT=4
MAX_NODES=32
NODE_BASENAME=ccnode
SLURMD_TIMEOUT_S=10   # multi-node: a lost node is DOWN after this (Slurm's default: 300)

usage() {
  echo "usage: $0 start|stop|status [--dir DIR] [--nodes N]" >&2
  echo "       $0 stop-node|start-node NAME [--dir DIR]" >&2
  exit 2
}
say() { echo "local-cluster: $*" >&2; }
die() { echo "local-cluster: $*" >&2; exit 1; }
cannot() { echo "local-cluster: cannot run here: $*" >&2; exit "$EXIT_CANNOT"; }

[ $# -ge 1 ] || usage
cmd=$1; shift
NODE_ARG=""
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || usage; DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#--dir=}; shift ;;
    --nodes) [ $# -ge 2 ] || usage; NODES=$2; shift 2 ;;
    --nodes=*) NODES=${1#--nodes=}; shift ;;
    -*) usage ;;
    *) [ -z "$NODE_ARG" ] || usage; NODE_ARG=$1; shift ;;
  esac
done
case $cmd in
  start|stop|status) [ -z "$NODE_ARG" ] || usage ;;
  stop-node|start-node) [ -n "$NODE_ARG" ] || usage ;;
  *) usage ;;
esac
if ! [[ $NODES =~ ^[0-9]+$ ]] || [ "$((10#$NODES))" -lt 1 ] || [ "$((10#$NODES))" -gt "$MAX_NODES" ]; then
  echo "local-cluster: --nodes / CYCLECAST_SLURM_NODES must be 1..$MAX_NODES, not '$NODES'" >&2
  exit 2
fi
NODES=$((10#$NODES))
if [ -n "$SUBNET" ] && ! [[ $SUBNET =~ ^(10\.[0-9]{1,3}\.[0-9]{1,3}|192\.168\.[0-9]{1,3}|172\.(1[6-9]|2[0-9]|3[01])\.[0-9]{1,3})$ ]]; then
  echo "local-cluster: CYCLECAST_SLURM_SUBNET must be the first three octets of a private /24, e.g. 10.217.5, not '$SUBNET'" >&2
  exit 2
fi
DIR=$(realpath -m -- "$DIR")
CONF=$DIR/slurm.conf
# Multi-node mode. DIR/nodes (written at render) lists "NAME NETNS ADDR" per node and is
# what makes DIR a multi-node cluster for stop, status and the node commands. Every
# namespace, veth and bridge is named with a prefix derived from DIR, so that clusters in
# two DIRs never touch each other's (Linux interface names are at most 15 characters:
# the prefix is 8, the longest name, PREFIXh32, 11).
NODES_FILE=$DIR/nodes
PREFIX=cc$(printf '%s' "$DIR" | sha1sum | cut -c1-6)
BRIDGE=${PREFIX}br
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

# --- multi-node: the nodes of DIR and their slurmd --------------------------------------
multi() { [ -f "$NODES_FILE" ]; }
node_names() {  # the node names of DIR/nodes, one a line
  local name ns addr
  [ -f "$NODES_FILE" ] || return 0
  while read -r name ns addr; do
    [[ $name =~ ^${NODE_BASENAME}[0-9]+$ ]] && echo "$name"
  done < "$NODES_FILE"
  return 0
}
node_field() {  # node_field NAME 2|3: its namespace (2) or address (3)
  local name ns addr
  while read -r name ns addr; do
    [ "$name" = "$1" ] || continue
    if [ "$2" = 2 ]; then echo "$ns"; else echo "$addr"; fi
    return 0
  done < "$NODES_FILE"
  return 1
}
is_node_slurmd() {  # is_node_slurmd PID NAME
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = slurmd ] || return 1
  [ "$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" = "slurmd -f $CONF -N $2 " ]
}
node_pid() {  # node_pid NAME: like pid_of, for the slurmd of one node
  local file=$DIR/slurmd-$1.pid pid p
  if [ -r "$file" ]; then
    pid=$(tr -dc '0-9' < "$file")
    [ -n "$pid" ] && is_node_slurmd "$pid" "$1" && { echo "$pid"; return 0; }
  fi
  for p in /proc/[0-9]*; do
    is_node_slurmd "${p#/proc/}" "$1" && { echo "${p#/proc/}"; return 0; }
  done
  return 1
}
kill_netns_procs() {  # KILL every process in network namespace NS (a lost node's steps)
  local ns=$1 pids=() i
  ip netns list 2>/dev/null | grep -q "^$ns\( \|$\)" || return 0
  for i in $(seq 50); do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null | grep -x '[0-9][0-9]*' || true)
    [ "${#pids[@]}" -gt 0 ] || return 0
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.1
  done
  say "$ns: processes still there after KILL: ${pids[*]}"
}
stop_nodes() {  # stop_nodes NAME...: TERM their slurmd all at once, wait, KILL; then KILL
  local name pid i names=() pids=()   # whatever is left in their namespaces
  for name in "$@"; do
    if pid=$(node_pid "$name"); then
      names+=("$name"); pids+=("$pid"); kill -TERM "$pid" 2>/dev/null || true
    else
      rm -f "$DIR/slurmd-$name.pid"
      say "$name: slurmd not running"
    fi
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}; name=${names[$i]}
    for _ in $(seq 150); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then
      say "$name: slurmd (pid $pid) did not exit after 15 s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    rm -f "$DIR/slurmd-$name.pid"
    say "$name: slurmd stopped (pid $pid)"
  done
  for name in "$@"; do
    kill_netns_procs "$(node_field "$name" 2 || echo "$PREFIX-$name")"
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
node_state() { sinfo -h -N -n "${1:-$(node_name)}" -o %t 2>/dev/null | head -n 1; }
usable() { case $1 in idle|mix|alloc|comp) return 0 ;; *) return 1 ;; esac; }

# --- status ---------------------------------------------------------------------------
daemon_line() {  # daemon_line NAME: prints "NAME: up (pid N)" or "NAME: down"
  local pid
  if pid=$(pid_of "$1"); then echo "$1: up (pid $pid)"; else echo "$1: down"; fi
}

cluster_up() {
  local name names=()
  [ -f "$CONF" ] && pid_of slurmctld >/dev/null && munge_works || return 1
  if multi; then
    mapfile -t names < <(node_names)
    for name in "${names[@]}"; do node_pid "$name" >/dev/null || return 1; done
  else
    pid_of slurmd >/dev/null
  fi
}
any_daemon_up() {  # slurmctld or any slurmd of DIR
  local name names=()
  pid_of slurmctld >/dev/null && return 0
  if multi; then
    mapfile -t names < <(node_names)
    for name in "${names[@]}"; do node_pid "$name" >/dev/null && return 0; done
    return 1
  fi
  pid_of slurmd >/dev/null
}
exports() {  # the stdout of start and status
  echo "export SLURM_CONF=$CONF"
  if multi; then echo "export CYCLECAST_SLURM_NODELIST=$(node_names | paste -s -d, -)"; fi
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
  if multi; then
    local name names=()
    mapfile -t names < <(node_names)
    echo "network: bridge $BRIDGE $(control_addr)/24 in the root namespace; namespaces, veths and bridge named $PREFIX*"
    for name in "${names[@]}"; do
      if pid=$(node_pid "$name"); then
        echo "$name: up (pid $pid, netns $(node_field "$name" 2), address $(node_field "$name" 3))"
      else
        echo "$name: down (netns $(node_field "$name" 2), address $(node_field "$name" 3))"
      fi
    done
    pid_of slurmctld >/dev/null && [ -f "$CONF" ] && { sinfo -N -l 2>&1 || true; }
    cluster_up && return 0
    return "$EXIT_DOWN"
  fi
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

ensure_iproute2() {  # multi-node: `ip` (iproute2), installed with apt if missing
  command -v ip >/dev/null && return 0
  [ "$(id -u)" -eq 0 ] || cannot "multi-node mode needs iproute2 (\`ip\`); as root run: apt-get install iproute2"
  command -v apt-get >/dev/null || cannot "multi-node mode needs iproute2 (\`ip\`) and there is no apt-get"
  say "installing Debian package: iproute2"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends iproute2 >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
  fi
  command -v ip >/dev/null || die "iproute2 installed but \`ip\` still missing from PATH"
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
  rm -f "$NODES_FILE"   # one node: DIR is no longer a multi-node cluster
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

# --- multi-node: configuration and network --------------------------------------------
control_addr() {  # the bridge's address: A.B.C.1 of the first node's A.B.C.(10+i)
  local addr
  addr=$(node_names | head -n 1 | { read -r n && node_field "$n" 3; } || true)
  echo "${addr%.*}.1"
}

subnet_in_use() {  # subnet_in_use A.B.C: any address or route of this machine in A.B.C.0/24
  { ip -4 -o addr show; ip -4 route show; } 2>/dev/null | grep -qF -e " $1." -e "^$1."
}

pick_subnet() {  # a private /24 nobody on this machine uses: 10.217.X, X from DIR's prefix
  local x i s
  if [ -n "$SUBNET" ]; then
    subnet_in_use "$SUBNET" && die "CYCLECAST_SLURM_SUBNET=$SUBNET: $SUBNET.0/24 is already in use here"
    echo "$SUBNET"; return 0
  fi
  x=$((16#${PREFIX:2:2}))
  for i in $(seq 0 255); do
    s=10.217.$(((x + i) % 256))
    subnet_in_use "$s" || { echo "$s"; return 0; }
  done
  die "no free 10.217.X.0/24 on this machine; set CYCLECAST_SLURM_SUBNET"
}

render_conf_multi() {  # writes DIR/nodes and DIR/slurm.conf for $NODES nodes
  local py node_line subnet i
  py=$(python_with_jinja2)
  node_line=$(slurmd -C | head -n 1)
  [[ $node_line == NodeName=* ]] || die "unexpected \`slurmd -C\` output: $node_line"
  subnet=$(pick_subnet)
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  : > "$NODES_FILE.tmp"
  for i in $(seq "$NODES"); do
    echo "$NODE_BASENAME$i $PREFIX-$NODE_BASENAME$i $subnet.$((10 + i))" >> "$NODES_FILE.tmp"
    mkdir -p "$DIR/spool/$NODE_BASENAME$i"
  done
  (cd "$REPO" && NODE_LINE=$node_line CONTROL_HOST=$(hostname -s) CONTROL_ADDR=$subnet.1 \
     CLUSTER_NAME=$CLUSTER_NAME SLURMCTLD_PORT=$SLURMCTLD_PORT SLURMD_PORT=$SLURMD_PORT \
     SLURMD_TIMEOUT=$SLURMD_TIMEOUT_S NODES_LIST=$NODES_FILE.tmp DIR=$DIR "$py" -c '
import os, re, sys
from driver.render import render
e = os.environ
d = e["DIR"]
hw = e["NODE_LINE"]
cpus = int(re.search(r"\bCPUs=(\d+)", hw).group(1))
memory = int(re.search(r"\bRealMemory=(\d+)", hw).group(1))
names = [line.split() for line in open(e["NODES_LIST"]) if line.strip()]
n = len(names)
nodes = [{"name": name, "addr": addr, "cpus": max(1, cpus // n), "memory": max(1, memory // n)}
         for name, _ns, addr in names]
text = render("slurm.conf.j2",
              cluster_name=e["CLUSTER_NAME"], control_host=e["CONTROL_HOST"],
              control_addr=e["CONTROL_ADDR"],
              slurmctld_port=int(e["SLURMCTLD_PORT"]), slurmd_port=int(e["SLURMD_PORT"]),
              slurmd_timeout=int(e["SLURMD_TIMEOUT"]),
              state_dir=d + "/state", spool_dir=d + "/spool/%n",
              slurmctld_pid=d + "/slurmctld.pid", slurmd_pid=d + "/slurmd-%n.pid",
              slurmctld_log=d + "/log/slurmctld.log", slurmd_log=d + "/log/slurmd-%n.log",
              jobcomp_log=d + "/log/jobcomp.txt", nodes=nodes)
open(sys.argv[1], "w").write(text)
print(nodes[0]["cpus"], cpus)
' "$CONF.tmp" > "$DIR/.cpu-split")
  mv "$CONF.tmp" "$CONF"
  mv "$NODES_FILE.tmp" "$NODES_FILE"
  local per total note=""
  read -r per total < "$DIR/.cpu-split"; rm -f "$DIR/.cpu-split"
  [ $((per * NODES)) -le "$total" ] || note=" (more nodes than CPUs: they share cores)"
  say "$NODES nodes, CPUs=$per each of this machine's $total$note; subnet $subnet.0/24"
}

netns_probe() {  # can this machine make network namespaces and veths? exit 4 if not
  local ns=$PREFIX-probe err
  ip netns del "$ns" 2>/dev/null || true
  err=$(ip netns add "$ns" 2>&1) \
    || cannot "multi-node mode needs network namespaces: \`ip netns add\` failed: $(echo "$err" | head -n 1)"
  if ! err=$(in_ns "$ns" true 2>&1); then
    ip netns del "$ns" 2>/dev/null || true
    cannot "multi-node mode needs network namespaces: \`nsenter --net\` failed: $(echo "$err" | head -n 1)"
  fi
  if ! err=$(unshare --uts -- hostname "$NODE_BASENAME" 2>&1); then
    ip netns del "$ns" 2>/dev/null || true
    cannot "multi-node mode needs UTS namespaces: \`unshare --uts hostname\` failed: $(echo "$err" | head -n 1)"
  fi
  if ! err=$(ip link add "${PREFIX}pa" type veth peer name "${PREFIX}pb" netns "$ns" 2>&1); then
    ip netns del "$ns" 2>/dev/null || true
    cannot "multi-node mode needs veth pairs: \`ip link add type veth\` failed: $(echo "$err" | head -n 1)"
  fi
  ip link del "${PREFIX}pa" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if ! err=$(ip link add "${PREFIX}pr" type bridge 2>&1); then
    cannot "multi-node mode needs a bridge: \`ip link add type bridge\` failed: $(echo "$err" | head -n 1)"
  fi
  ip link del "${PREFIX}pr" 2>/dev/null || true
}

our_netns() {  # the network namespaces of DIR, one a line
  local name rest
  ip netns list 2>/dev/null | while read -r name rest; do
    [[ $name == "$PREFIX"-* ]] && echo "$name"
  done
  return 0
}
our_links() {  # the interfaces of DIR in the root namespace (veth ends, bridge), one a line
  local name rest
  ip -o link show 2>/dev/null | while read -r _ name rest; do
    name=${name%:}; name=${name%%@*}
    [[ $name == "$PREFIX"* ]] && echo "$name"
  done
  return 0
}

setup_network() {  # the bridge, and per node a namespace with one end of a veth pair
  local name ns addr i=0 err
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$(control_addr)/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  while read -r name ns addr; do
    i=$((i + 1))
    ip netns list | grep -q "^$ns\( \|$\)" && continue
    err=$( { ip netns add "$ns" \
             && ip link add "${PREFIX}h$i" type veth peer name "${PREFIX}n$i" netns "$ns" \
             && ip link set "${PREFIX}h$i" master "$BRIDGE" up \
             && ip -n "$ns" addr add "$addr/24" dev "${PREFIX}n$i" \
             && ip -n "$ns" link set "${PREFIX}n$i" up \
             && ip -n "$ns" link set lo up; } 2>&1) \
      || { teardown_network; cannot "setting up the namespace of $name failed: $(echo "$err" | head -n 1)"; }
  done < "$NODES_FILE"
}

teardown_network() {  # remove every namespace and interface of DIR (and only those)
  local ns link list=()
  command -v ip >/dev/null || return 0
  mapfile -t list < <(our_netns)
  for ns in "${list[@]}"; do
    kill_netns_procs "$ns"
    ip netns del "$ns" 2>/dev/null || say "could not delete network namespace $ns"
  done
  mapfile -t list < <(our_links)  # veth ends go with their namespace; the bridge stays
  for link in "${list[@]}"; do
    ip link del "$link" 2>/dev/null || true
  done
  mapfile -t list < <(our_netns; our_links)
  [ "${#list[@]}" -eq 0 ] || say "left behind: ${list[*]}"
}

start_node() {  # start_node NAME: its slurmd, inside its namespace
  local name=$1 ns
  node_pid "$name" >/dev/null && return 0
  ns=$(node_field "$name" 2) || die "no node $name in $NODES_FILE"
  ip netns list | grep -q "^$ns\( \|$\)" || setup_network
  kill_netns_procs "$ns"   # steps of an earlier life of this node must not linger
  # Its own UTS namespace too, with the node name as host name: srun reports its host name
  # to slurmctld, which maps a node name to its NodeAddr to wake an srun whose step waits
  # for CPUs ("step creation temporarily disabled"). With the machine's host name, which
  # resolves to this machine's root namespace, that wake-up is lost and the step waits
  # for srun's own retry, about 2 minutes. And `hostname` in a job then names its node.
  # shellcheck disable=SC2016  # $0 and $1 are the inner sh's arguments
  in_ns "$ns" unshare --uts -- sh -c 'hostname "$0" && exec slurmd -f "$1" -N "$0"' "$name" "$CONF" \
    8>&- 9>&- || { show_logs; die "$name: slurmd failed to start"; }
}

wait_nodes_usable() {  # wait_nodes_usable T0 NAME...: until sinfo shows each usable
  local t0=$1 name state ok; shift
  while :; do
    ok=1
    for name in "$@"; do
      state=$(node_state "$name" || true)
      usable "$state" || { ok=""; break; }
    done
    [ -n "$ok" ] && return 0
    if [ $((SECONDS - t0)) -ge "$START_TIMEOUT_S" ]; then
      show_logs; sinfo -R >&2 || true
      die "node $name not usable after ${START_TIMEOUT_S} s (state: ${state:-no answer})"
    fi
    sleep 0.2
    if [ $((SECONDS - t0)) -ge 2 ]; then
      pid_of slurmctld >/dev/null || { show_logs; die "slurmctld exited"; }
      for name in "$@"; do
        node_pid "$name" >/dev/null || { show_logs; die "$name: slurmd exited"; }
      done
    fi
  done
}

# in_ns NETNS CMD...: run CMD in the network namespace NETNS, and only that namespace.
# Not `ip netns exec`: that also unshares the mount namespace and mounts a fresh /sys,
# which hides /sys/fs/cgroup, and slurmd 22.05 then refuses to start ("No filesystem
# mounted on /sys/fs/cgroup", "Unable to initialize cgroup plugin") even with
# proctrack/linuxproc and task/none. nsenter --net keeps the machine's mounts, so /run/munge
# and DIR are the same files inside as outside.
in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; }

tcp_ok() {  # tcp_ok NETNS ADDR PORT: can a process in NETNS connect to ADDR:PORT?
  # shellcheck disable=SC2016  # $0 and $1 are the inner bash's arguments, not ours
  timeout 5 nsenter --net="/run/netns/$1" -- bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null
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
  for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" "$DIR"/log/slurmd-*.log; do
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

dir_nodes() { if multi; then node_names | wc -l; else echo 1; fi; }

do_start() {
  if any_daemon_up && [ "$(dir_nodes)" -ne "$NODES" ]; then
    die "$DIR runs a cluster of $(dir_nodes) node(s), not $NODES; stop it first"
  fi
  if [ "$NODES" -gt 1 ]; then do_start_multi; return; fi
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

do_start_multi() {
  local t0=$SECONDS name first ns names=()
  if cluster_up; then
    say "already up"; do_status >&2 || true; exports; return 0
  fi
  [ "$(uname -s)" = Linux ] || cannot "needs Linux (found $(uname -s))"
  ensure_installed
  [ "$(id -u)" -eq 0 ] || cannot "needs root (slurmd starts job steps as the submitting user)"
  ensure_iproute2
  mkdir -p "$DIR"
  lock_dir
  if cluster_up; then
    say "already up"; do_status >&2 || true; exports; return 0
  fi
  machine_lock
  if ! any_daemon_up; then
    netns_probe
    teardown_network          # leftovers of a run that was not stopped
    render_conf_multi
  fi
  setup_network
  ensure_munged
  mapfile -t names < <(node_names)
  first=${names[0]}
  ns=$(node_field "$first" 2)
  in_ns "$ns" bash -c 'munge -n | unmunge' >/dev/null 2>&1 \
    || { teardown_network; cannot "munge does not work inside a network namespace (is /run/munge visible there?)"; }
  start_daemon slurmctld "$SLURMCTLD_PORT"
  for name in "${names[@]}"; do start_node "$name"; done
  machine_unlock
  wait_nodes_usable "$t0" "${names[@]}"
  # Nodes idle means slurmd -> slurmctld works; srun inside a job also goes node -> node
  # (over the bridge): check that once, from the first node to every other slurmd.
  for name in "${names[@]}"; do
    [ "$name" = "$first" ] && continue
    tcp_ok "$ns" "$(node_field "$name" 3)" "$SLURMD_PORT" && continue
    say "$first cannot reach $name at $(node_field "$name" 3):$SLURMD_PORT; stopping"
    do_stop_locked
    cannot "traffic between network namespaces over bridge $BRIDGE is blocked (bridge netfilter / firewall?)"
  done
  say "up in $((SECONDS - t0)) s"
  do_status >&2 || true
  exports
}

do_stop_node() {  # stop-node NAME: the node is lost (slurmd and its job steps killed)
  multi || die "$DIR is not a multi-node cluster (start it with --nodes N, N >= 2)"
  node_field "$NODE_ARG" 2 >/dev/null || die "no node '$NODE_ARG' in $DIR (nodes: $(node_names | paste -s -d' ' -))"
  lock_dir
  stop_nodes "$NODE_ARG"
}

do_start_node() {
  local t0=$SECONDS
  multi || die "$DIR is not a multi-node cluster (start it with --nodes N, N >= 2)"
  node_field "$NODE_ARG" 2 >/dev/null || die "no node '$NODE_ARG' in $DIR (nodes: $(node_names | paste -s -d' ' -))"
  lock_dir
  pid_of slurmctld >/dev/null || die "slurmctld of $DIR is not running; use start"
  machine_lock
  start_node "$NODE_ARG"
  machine_unlock
  wait_nodes_usable "$t0" "$NODE_ARG"
  say "$NODE_ARG: $(node_state "$NODE_ARG") after $((SECONDS - t0)) s"
}

# --- stop -----------------------------------------------------------------------------
do_stop() {
  [ -d "$DIR" ] || { say "nothing to stop: no $DIR"; return 0; }
  lock_dir
  do_stop_locked
}

do_stop_locked() {
  local jobs=() i names=()
  if pid_of slurmctld >/dev/null && [ -f "$CONF" ]; then
    # Cancel what is still queued or running, so no job steps outlive the cluster.
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null | grep -x '[0-9][0-9]*' || true)
    if [ "${#jobs[@]}" -gt 0 ]; then
      say "cancelling jobs: ${jobs[*]}"
      scancel "${jobs[@]}" 2>/dev/null || true
      for i in $(seq 100); do
        [ -z "$(squeue -h -o %A 2>/dev/null || true)" ] && break
        sleep 0.1
      done
    fi
  fi
  if multi; then
    mapfile -t names < <(node_names)
    stop_nodes "${names[@]}"
    stop_daemons slurmctld
  else
    stop_daemons slurmd slurmctld
  fi
  machine_lock
  teardown_network
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
  status) do_status && exports ;;
  stop-node) do_stop_node ;;
  start-node) do_start_node ;;
esac
