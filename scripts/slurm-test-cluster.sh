#!/usr/bin/env bash
# Tiny throw-away Slurm cluster for integration tests (Debian 12, Slurm 22.05, run as root).
#
#   eval "$(bash scripts/slurm-test-cluster.sh up)"   # start (idempotent); prints ONLY `export ...` lines
#   bash scripts/slurm-test-cluster.sh status          # human-readable state (stderr), rc 0 when healthy
#   bash scripts/slurm-test-cluster.sh down            # stop everything, delete netns/bridge/state/db
#   bash scripts/slurm-test-cluster.sh node-kill gpu2  # kill -9 that node's slurmd only (jobs keep running)
#   bash scripts/slurm-test-cluster.sh node-lose gpu2  # kill -9 slurmd AND every job process on the node
#   bash scripts/slurm-test-cluster.sh node-start gpu2 # start its slurmd again, wait until it is usable
#
# Layout:
#   * slurmctld + slurmdbd in the root network namespace, on bridge tslurm0 = 10.77.0.1/24
#   * nodes gpu1 (10.77.0.11) and gpu2 (10.77.0.12), each slurmd in its own network namespace
#     (tslurm-<node>) and its own UTS namespace (so `hostname` prints the node name)
#   * each node: CPUs=4 (config_overrides, the host may have fewer), 2 fake GPUs as char devices
#   * accounting: slurmdbd -> local MariaDB, database tuning_slurm_acct (dropped by `down`)
#   * munge: reuse the system munged if it answers on /run/munge/munge.socket.2, else run our own
#
# Everything except the final `export` lines goes to stderr. Helper subcommands print nothing on
# stdout. Environment: TUNING_SLURM_TEST_DIR (state dir, default /var/tmp/tuning-slurm).
set -euo pipefail

# stdout is reserved for the export lines: keep it on fd 3, send everything else to stderr.
exec 3>&1 1>&2

STATE=${TUNING_SLURM_TEST_DIR:-/var/tmp/tuning-slurm}
STATE=${STATE%/}
CLUSTER=tuningtest
PARTITION=gpu
NODES=(gpu1 gpu2)
declare -A NODE_IP=([gpu1]=10.77.0.11 [gpu2]=10.77.0.12)
BRIDGE=tslurm0
BRIDGE_IP=10.77.0.1
NETNS_PREFIX=tslurm-
VETH_PREFIX=tsl-
UTS_DIR=/run/tslurm
DB_NAME=tuning_slurm_acct
CTLD_PORT=6817
SLURMD_PORT=6818
DBD_PORT=6819
GPUS_PER_NODE=2
CPUS_PER_NODE=4
MEM_PER_NODE=4096
SYSTEM_MUNGE_SOCKET=/run/munge/munge.socket.2
MARKER=.tuning-slurm-test-cluster
HOSTS_TAG="# tuning-slurm-test-cluster"
READY_TIMEOUT=${TUNING_SLURM_READY_TIMEOUT:-60}

CONF=$STATE/etc/slurm.conf
LOG=$STATE/log
RUN=$STATE/run

log() { printf '[slurm-test-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# Run a (daemonizing) command with no inherited stdout/stderr, so `$(... up)` never hangs.
quiet() { "$@" </dev/null >>"$LOG/start.log" 2>&1 3>&-; }

proc_running() { # pid: exists and is not a zombie (our PID 1 may reap orphans slowly)
  local st
  st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

pid_alive() { # pidfile [comm]
  local f=$1 comm=${2:-} pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_running "$pid" || return 1
  if [ -n "$comm" ]; then
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  fi
  return 0
}

kill_pidfile() { # pidfile comm [first-signal]
  local f=$1 comm=$2 sig=${3:-TERM} pid i
  pid_alive "$f" "$comm" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 50); do proc_running "$pid" || break; sleep 0.1; done
  if proc_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
  rm -f "$f"
}

export SLURM_CONF=$CONF

# ---------------------------------------------------------------------------------------------
# packages / users

ensure_packages() {
  local missing=0 f
  for f in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmdbd /usr/bin/sbatch /usr/bin/sacct \
           /usr/bin/sacctmgr /usr/sbin/munged /usr/bin/munge \
           /usr/lib/x86_64-linux-gnu/slurm-wlm/accounting_storage_mysql.so; do
    [ -e "$f" ] || { log "missing $f"; missing=1; }
  done
  local pkgs=(slurm-wlm slurmctld slurmd slurm-client slurmdbd munge slurm-wlm-mysql-plugin)
  [ -x /usr/sbin/mariadbd ] || { pkgs+=(mariadb-server); missing=1; }
  if ! command -v nsenter >/dev/null || ! command -v unshare >/dev/null; then
    pkgs+=(util-linux); missing=1
  fi
  command -v ip >/dev/null || { pkgs+=(iproute2); missing=1; }
  [ "$missing" = 1 ] || return 0
  log "installing: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y "${pkgs[@]}" </dev/null >&2 3>&-; then
    apt-get update </dev/null >&2 3>&-
    apt-get install -y "${pkgs[@]}" </dev/null >&2 3>&-
  fi
}

ensure_user() {
  # Jobs are submitted on behalf of the service's run user (default `tuning`, cf. scripts/setup.sh).
  if ! id -u tuning >/dev/null 2>&1; then
    log "creating system user tuning"
    useradd --system --no-create-home --shell /usr/sbin/nologin tuning
  fi
}

# ---------------------------------------------------------------------------------------------
# munge

munge_works() { munge -n -S "$1" 2>/dev/null | unmunge -S "$1" >/dev/null 2>&1; }

ensure_munge() {
  mkdir -p "$STATE/munge"
  chmod 0755 "$STATE/munge"
  local mode=""
  [ -f "$STATE/munge/mode" ] && mode=$(cat "$STATE/munge/mode")
  if [ "$mode" = own ]; then
    if pid_alive "$STATE/munge/munged.pid" munged && munge_works "$STATE/munge/munge.socket"; then
      MUNGE_SOCKET=$STATE/munge/munge.socket; return 0
    fi
  fi
  if [ "$mode" != own ] && munge_works "$SYSTEM_MUNGE_SOCKET"; then
    log "reusing system munged at $SYSTEM_MUNGE_SOCKET"
    echo system >"$STATE/munge/mode"
    MUNGE_SOCKET=$SYSTEM_MUNGE_SOCKET; return 0
  fi
  if [ "$mode" = system ]; then
    die "the system munged ($SYSTEM_MUNGE_SOCKET) this cluster was started with is gone; run down + up"
  fi
  log "starting own munged"
  mkdir -p "$STATE/munge/key"
  chmod 0700 "$STATE/munge/key"
  if [ ! -s "$STATE/munge/key/munge.key" ]; then
    dd if=/dev/urandom of="$STATE/munge/key/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$STATE/munge/key/munge.key"
  fi
  rm -f "$STATE/munge/munge.socket" "$STATE/munge/munge.socket.lock"
  echo own >"$STATE/munge/mode"
  quiet munged --socket="$STATE/munge/munge.socket" --key-file="$STATE/munge/key/munge.key" \
    --log-file="$LOG/munged.log" --pid-file="$STATE/munge/munged.pid" \
    --seed-file="$STATE/munge/key/munged.seed" || die "munged failed to start, see $LOG/munged.log"
  local i
  for i in $(seq 50); do munge_works "$STATE/munge/munge.socket" && break; sleep 0.1; done
  munge_works "$STATE/munge/munge.socket" || die "munged does not answer, see $LOG/munged.log"
  MUNGE_SOCKET=$STATE/munge/munge.socket
}

# ---------------------------------------------------------------------------------------------
# network: bridge in the root netns, one netns (+ UTS ns) per node

ensure_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$BRIDGE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$UTS_DIR"
  local n ns veth uts
  for n in "${NODES[@]}"; do
    ns=$NETNS_PREFIX$n veth=$VETH_PREFIX$n uts=$UTS_DIR/uts-$n
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip -n "$ns" link del eth0 2>/dev/null || true
      ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "${NODE_IP[$n]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$BRIDGE_IP" dev eth0
    if ! findmnt -n "$uts" >/dev/null 2>&1; then
      touch "$uts"
      unshare --uts="$uts" hostname "$n"
    fi
  done
  ensure_hosts
}

# Best effort: make gpu1/gpu2 resolvable (in-place rewrite, works with a bind-mounted /etc/hosts).
ensure_hosts() {
  grep -q "$HOSTS_TAG" /etc/hosts 2>/dev/null && return 0
  local add="" n
  for n in "${NODES[@]}"; do add+="${NODE_IP[$n]} $n $HOSTS_TAG"$'\n'; done
  { printf '%s' "$add" >>/etc/hosts; } 2>/dev/null || log "warning: could not add node names to /etc/hosts"
}

remove_hosts() {
  grep -q "$HOSTS_TAG" /etc/hosts 2>/dev/null || return 0
  local content
  content=$(grep -v "$HOSTS_TAG" /etc/hosts || true)
  { printf '%s\n' "$content" >/etc/hosts; } 2>/dev/null || log "warning: could not clean /etc/hosts"
}

in_node() { # node cmd... : run in the node's network + UTS namespace
  local n=$1; shift
  nsenter --net="/run/netns/$NETNS_PREFIX$n" --uts="$UTS_DIR/uts-$n" "$@"
}

# ---------------------------------------------------------------------------------------------
# config files

write_if_changed() { # path mode  (content on stdin)
  local f=$1 mode=$2 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; else mv -f "$tmp" "$f"; CONFIG_CHANGED=1; fi
}

ensure_dirs() {
  if [ -e "$STATE" ] && [ ! -e "$STATE/$MARKER" ] && [ -n "$(ls -A "$STATE" 2>/dev/null)" ]; then
    die "$STATE exists, is not empty and was not created by this script"
  fi
  mkdir -p "$STATE"
  chmod 0755 "$STATE"
  touch "$STATE/$MARKER"
  mkdir -p "$STATE/etc" "$LOG" "$RUN" "$STATE/spool/ctld" "$STATE/spool/dbd"
  # scratch space any job user may write to (sbatch --chdir / --output)
  mkdir -p "$STATE/work"
  chmod 1777 "$STATE/work"
  local n i
  for n in "${NODES[@]}"; do
    mkdir -p "$STATE/spool/slurmd-$n" "$STATE/dev/$n"
    for ((i = 0; i < GPUS_PER_NODE; i++)); do
      [ -c "$STATE/dev/$n/nvidia$i" ] || { rm -f "$STATE/dev/$n/nvidia$i"; mknod -m 0666 "$STATE/dev/$n/nvidia$i" c 195 "$i"; }
    done
  done
}

CONFIG_CHANGED=0
write_configs() {
  local host n nodes_csv
  host=$(hostname -s)
  nodes_csv=$(IFS=,; echo "${NODES[*]}")
  # (process substitution, not a pipe: write_if_changed must run in this shell to set CONFIG_CHANGED)
  write_if_changed "$CONF" 0644 < <(
    cat <<EOF
# generated by scripts/slurm-test-cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=$host($BRIDGE_IP)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/slurmd-%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
GresTypes=gpu
SlurmdParameters=config_overrides
SlurmdTimeout=10
SlurmctldTimeout=10
ReturnToService=2
KillWait=5
MinJobAge=300
# a batch job hit by a node failure ends as NODE_FAIL instead of being requeued (real clusters
# usually default to JobRequeue=1: submit with --no-requeue to get the same behaviour there)
JobRequeue=0
MailProg=/bin/true
InactiveLimit=0
Waittime=0
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$BRIDGE_IP
AccountingStoragePort=$DBD_PORT
# for connections to slurmdbd, slurm takes the munge socket from AccountingStoragePass, not AuthInfo
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
EOF
    for n in "${NODES[@]}"; do
      echo "NodeName=$n NodeAddr=${NODE_IP[$n]} NodeHostname=$n CPUs=$CPUS_PER_NODE Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS_PER_NODE ThreadsPerCore=1 RealMemory=$MEM_PER_NODE Gres=gpu:$GPUS_PER_NODE State=UNKNOWN"
    done
    echo "PartitionName=$PARTITION Nodes=$nodes_csv Default=YES MaxTime=INFINITE State=UP"
  )

  write_if_changed "$STATE/etc/gres.conf" 0644 < <(
    echo "AutoDetect=off"
    for n in "${NODES[@]}"; do
      echo "NodeName=$n Name=gpu File=$STATE/dev/$n/nvidia[0-$((GPUS_PER_NODE - 1))]"
    done
  )

  write_if_changed "$STATE/etc/cgroup.conf" 0644 <<EOF
CgroupPlugin=autodetect
ConstrainCores=no
ConstrainDevices=no
ConstrainRAMSpace=no
EOF

  write_if_changed "$STATE/etc/slurmdbd.conf" 0600 <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$host
DbdAddr=$BRIDGE_IP
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=root
StorageLoc=$DB_NAME
EOF
}

# ---------------------------------------------------------------------------------------------
# daemons

mysql_ok() { mysqladmin -uroot -h127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; }

ensure_mariadb() {
  if ! mysql_ok; then
    log "starting MariaDB"
    install -d -o mysql -g mysql /run/mysqld
    quiet start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    local i
    for i in $(seq 60); do mysql_ok && break; sleep 0.5; done
    mysql_ok || die "MariaDB did not come up on 127.0.0.1:3306"
  fi
  mysql -uroot -h127.0.0.1 -e "CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`"
}

ensure_slurmdbd() {
  if ! pid_alive "$RUN/slurmdbd.pid" slurmdbd; then
    log "starting slurmdbd"
    quiet slurmdbd || die "slurmdbd failed to start, see $LOG/slurmdbd.log"
  fi
  local deadline=$((SECONDS + 30))
  until sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || break
    sleep 0.3
  done
  local clusters
  clusters=$(sacctmgr -n -P list cluster format=cluster 2>/dev/null) \
    || die "slurmdbd does not answer, see $LOG/slurmdbd.log"
  if ! grep -qx "$CLUSTER" <<<"$clusters"; then
    sacctmgr -i add cluster "$CLUSTER" >&2
  fi
}

ctld_ok() { scontrol ping 2>/dev/null | grep -q 'is UP'; }

ensure_slurmctld() {
  if pid_alive "$RUN/slurmctld.pid" slurmctld && ctld_ok; then
    if [ "$CONFIG_CHANGED" = 1 ]; then
      log "config changed: scontrol reconfigure"
      scontrol reconfigure >&2
    fi
    return 0
  fi
  kill_pidfile "$RUN/slurmctld.pid" slurmctld
  log "starting slurmctld"
  quiet slurmctld || die "slurmctld failed to start, see $LOG/slurmctld.log"
  local i
  for i in $(seq 100); do ctld_ok && return 0; sleep 0.2; done
  die "slurmctld does not answer, see $LOG/slurmctld.log"
}

start_slurmd() { # node
  local n=$1
  if pid_alive "$RUN/slurmd-$n.pid" slurmd; then return 0; fi
  rm -f "$RUN/slurmd-$n.pid"
  log "starting slurmd $n"
  quiet in_node "$n" slurmd -N "$n" -f "$CONF" || die "slurmd $n failed to start, see $LOG/slurmd-$n.log"
}

node_state() { # node -> State= value ('' if unknown)
  scontrol -o show node "$1" 2>/dev/null | sed -n 's/.* State=\([^ ]*\).*/\1/p'
}

node_usable() { # node: responding, not down/drained
  local s
  s=$(node_state "$1")
  [ -n "$s" ] || return 1
  case "$s" in *NOT_RESPONDING* | *DOWN* | *DRAIN* | *FAIL* | *UNKNOWN* | *POWER* | *REBOOT* | *INVAL*) return 1 ;; esac
  case "$s" in IDLE* | MIXED* | ALLOCATED* | COMPLETING*) return 0 ;; esac
  return 1
}

wait_nodes() { # timeout nodes...
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout)) n ok resumed=0
  while :; do
    ok=1
    for n in "$@"; do node_usable "$n" || ok=0; done
    [ "$ok" = 1 ] && return 0
    if [ $((SECONDS + timeout / 2)) -ge "$deadline" ] && [ "$resumed" = 0 ]; then
      # ReturnToService=2 normally does this; nudge nodes that stayed DOWN/DRAIN after registering
      for n in "$@"; do
        case "$(node_state "$n")" in
          *NOT_RESPONDING*) ;;
          *DOWN* | *DRAIN*) scontrol update nodename="$n" state=resume 2>/dev/null || true ;;
        esac
      done
      resumed=1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "nodes not ready after ${timeout}s:"
      for n in "$@"; do scontrol -o show node "$n" >&2 2>&1 || true; done
      log "logs: $LOG/slurmd-<node>.log, $LOG/slurmctld.log"
      return 1
    fi
    sleep 0.5
  done
}

emit_exports() {
  printf 'export SLURM_CONF=%q\n' "$CONF" >&3
  printf 'export TUNING_SLURM_PARTITION=%q\n' "$PARTITION" >&3
  printf 'export TUNING_SLURM_TEST_DIR=%q\n' "$STATE" >&3
  printf 'export TUNING_SLURM_MUNGE_SOCKET=%q\n' "$MUNGE_SOCKET" >&3
}

cmd_up() {
  ensure_packages
  ensure_user
  ensure_dirs
  ensure_munge
  ensure_network
  write_configs
  ensure_mariadb
  ensure_slurmdbd
  ensure_slurmctld
  local n
  for n in "${NODES[@]}"; do start_slurmd "$n"; done
  wait_nodes "$READY_TIMEOUT" "${NODES[@]}" || die "cluster not ready after ${READY_TIMEOUT}s"
  cancel_leftovers
  log "cluster up: $(sinfo -h -N -o '%N=%T' | tr '\n' ' ')"
  emit_exports
}

cancel_leftovers() { # a cluster that was already up starts empty: no job of an earlier session holds a GPU
  local ids i
  ids=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  log "cancelling jobs left from before: $(echo $ids | tr '\n' ' ')"
  # shellcheck disable=SC2086
  timeout 10 scancel $ids >/dev/null 2>&1 || true
  for i in $(seq 1 60); do
    [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  log "jobs still listed after cancelling: $(timeout 10 squeue -h -o '%i=%T' | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# teardown / node helpers

ns_pids() { ip netns pids "$NETNS_PREFIX$1" 2>/dev/null || true; }

kill_ns_all() { # node: kill -9 every process inside the node's netns (slurmd, slurmstepd, jobs)
  local n=$1 pids i
  for i in 1 2 3 4 5; do
    pids=$(ns_pids "$n")
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
  rm -f "$RUN/slurmd-$n.pid"
}

check_node_arg() {
  local n=${1:-} x
  for x in "${NODES[@]}"; do [ "$x" = "$n" ] && return 0; done
  die "unknown node '${n}' (expected one of: ${NODES[*]})"
}

cmd_node_kill() {
  check_node_arg "${1:-}"
  local n=$1 pid
  if pid_alive "$RUN/slurmd-$n.pid" slurmd; then
    pid=$(cat "$RUN/slurmd-$n.pid")
    kill -KILL "$pid"
    while proc_running "$pid"; do sleep 0.05; done
  fi
  rm -f "$RUN/slurmd-$n.pid"
  log "slurmd $n killed (job processes untouched)"
}

cmd_node_lose() {
  check_node_arg "${1:-}"
  kill_ns_all "$1"
  log "node $1 lost: slurmd and all job processes killed"
}

cmd_node_start() {
  check_node_arg "${1:-}"
  local n=$1
  [ -f "$CONF" ] || die "cluster is not up"
  start_slurmd "$n"
  wait_nodes "$READY_TIMEOUT" "$n" || die "node $n not usable after ${READY_TIMEOUT}s"
  log "node $n: $(node_state "$n")"
}

cmd_down() {
  local n
  if [ -f "$CONF" ] && pid_alive "$RUN/slurmctld.pid" slurmctld; then
    timeout 10 scancel --full --quiet --partition="$PARTITION" >/dev/null 2>&1 || true
    local ids
    ids=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 10 scancel $ids >/dev/null 2>&1 || true
    sleep 0.5
  fi
  for n in "${NODES[@]}"; do
    [ -e "/run/netns/$NETNS_PREFIX$n" ] && kill_ns_all "$n"
    kill_pidfile "$RUN/slurmd-$n.pid" slurmd
  done
  # state and database are thrown away anyway: no need for a (3 s + 2 s) graceful shutdown
  kill_pidfile "$RUN/slurmctld.pid" slurmctld KILL
  kill_pidfile "$RUN/slurmdbd.pid" slurmdbd KILL
  if [ "$(cat "$STATE/munge/mode" 2>/dev/null || true)" = own ]; then
    kill_pidfile "$STATE/munge/munged.pid" munged
  fi
  for n in "${NODES[@]}"; do
    ip link del "$VETH_PREFIX$n" 2>/dev/null || true
    [ -e "/run/netns/$NETNS_PREFIX$n" ] && ip netns del "$NETNS_PREFIX$n"
    if [ -e "$UTS_DIR/uts-$n" ]; then
      umount "$UTS_DIR/uts-$n" 2>/dev/null || true
      rm -f "$UTS_DIR/uts-$n"
    fi
  done
  rmdir "$UTS_DIR" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  remove_hosts
  if mysql_ok; then
    mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$DB_NAME\`" || true
  fi
  if [ -e "$STATE" ]; then
    if [ -e "$STATE/$MARKER" ]; then
      rm -rf --one-file-system "$STATE"
    else
      log "warning: $STATE not removed (no $MARKER marker)"
    fi
  fi
  log "down"
}

cmd_status() {
  local rc=0 n
  [ -f "$CONF" ] || { log "not up (no $CONF)"; return 1; }
  local d pidf comm
  for d in slurmctld slurmdbd "${NODES[@]}"; do
    case "$d" in
      slurmctld | slurmdbd) pidf=$RUN/$d.pid comm=$d ;;
      *) pidf=$RUN/slurmd-$d.pid comm=slurmd ;;
    esac
    if pid_alive "$pidf" "$comm"; then
      log "$d: running (pid $(cat "$pidf"))"
    else
      log "$d: stopped"; rc=1
    fi
  done
  if ctld_ok; then
    sinfo -N -o '%N %T %G %C' >&2 || true
    squeue -o '%i %u %T %r %N' >&2 || true
    for n in "${NODES[@]}"; do node_usable "$n" || rc=1; done
  else
    rc=1
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  node-kill) cmd_node_kill "${2:-}" ;;
  node-lose) cmd_node_lose "${2:-}" ;;
  node-start) cmd_node_start "${2:-}" ;;
  *)
    echo "usage: $0 up|down|status|node-kill NODE|node-lose NODE|node-start NODE" >&2
    exit 2
    ;;
esac
