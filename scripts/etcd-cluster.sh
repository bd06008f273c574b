#!/usr/bin/env bash
# A cluster of real etcd processes (Debian's etcd-server) on loopback, for
# the test that kills its leader (TestEtcdClusterOfDebianEtcd in
# cmd/metactl/etcd_cluster_e2e_test.go) and for trying metactl by hand.
#
#   bash scripts/etcd-cluster.sh install          # apt-get install etcd-server if etcd is missing (root)
#   bash scripts/etcd-cluster.sh start DIR [N]    # N members (3), data under DIR; prints ENDPOINTS=...
#   bash scripts/etcd-cluster.sh kill DIR I       # SIGKILL member I (0-based): a crash, its data as left
#   bash scripts/etcd-cluster.sh restart DIR I    # start member I again from its data folder
#   bash scripts/etcd-cluster.sh stop DIR         # SIGTERM each member in turn, SIGKILL after 10 s
#   bash scripts/etcd-cluster.sh health DIR       # one line per member: its endpoint and /health
#
# Each member I runs `etcd` with its data in DIR/mI, its log in DIR/mI.log
# and its pid in DIR/mI.pid, in a session of its own (setsid), on ports
# picked free from 20000-32767 (below Linux's ephemeral range, so no
# outgoing connection holds them). DIR/cluster.env keeps the ports, for
# restart and for the test: MEMBERS, ENDPOINTS, CLIENT_I, PEER_I.
# Election settings are etcd's defaults (--heartbeat-interval 100,
# --election-timeout 1000), fsync on: what a real deployment runs.
# start and restart return once the member answers /health true.
set -euo pipefail

die() { echo "etcd-cluster: $*" >&2; exit 1; }

etcd_bin() { command -v etcd || { [ -x /usr/bin/etcd ] && echo /usr/bin/etcd; } || true; }

cmd_install() {
  if [ -z "$(etcd_bin)" ]; then
    [ "$(id -u)" = 0 ] || die "etcd is missing and this is not root: apt-get install etcd-server"
    apt-get update -qq
    # policy-rc.d may refuse to start the package's own service (as in a
    # container); the package is installed all the same.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  fi
  # Not `| head -n 1`: under pipefail, etcd's SIGPIPE would fail install.
  local v
  v=$("$(etcd_bin)" --version)
  echo "${v%%$'\n'*}"
}

# http_get PORT PATH prints the body of a GET on 127.0.0.1:PORT, with bash's
# /dev/tcp (a fresh Debian has no curl); nothing if the port does not answer.
http_get() {
  local body
  body=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
    timeout 2 cat <&3) 2>/dev/null) || true
  printf '%s' "${body##*$'\r\n\r\n'}"
}

# port_in_use PORT: a socket of any state has PORT as its local port. One
# awk, no pipe: under pipefail, `| grep -q` can fail on the writer's SIGPIPE.
port_in_use() {
  awk -v port="$(printf ':%04X' "$1")" \
    'substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port sets PORT to a port no socket uses and no earlier call gave.
declare -A taken
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
    if [ -z "${taken[$p]:-}" ] && ! port_in_use "$p"; then
      taken[$p]=1
      PORT=$p
      return
    fi
  done
  die "no free port found in 20000-32767"
}

load() {
  [ -f "$1/cluster.env" ] || die "$1/cluster.env: no cluster started there"
  # shellcheck disable=SC1091
  . "$1/cluster.env"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# launch DIR I STATE starts member I in the background.
launch() {
  local dir=$1 i=$2 state=$3 client peer
  client=$(eval echo "\$CLIENT_$i")
  peer=$(eval echo "\$PEER_$i")
  alive "$dir/m$i.pid" && die "member $i is running (pid $(cat "$dir/m$i.pid"))"
  # stdin, stdout and stderr away from the caller's, so that a caller
  # reading this script's output is not held open by etcd.
  setsid "$(etcd_bin)" --name "m$i" --data-dir "$dir/m$i" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$INITIAL_CLUSTER" --initial-cluster-state "$state" \
    --initial-cluster-token metactl-etcd-cluster \
    --logger zap --log-outputs stderr --log-level warn \
    </dev/null >>"$dir/m$i.log" 2>&1 &
  echo $! >"$dir/m$i.pid"
}

# wait_healthy DIR I waits (a minute at most) for member I's /health.
wait_healthy() {
  local dir=$1 i=$2 client
  client=$(eval echo "\$CLIENT_$i")
  for _ in $(seq 1 600); do
    case $(http_get "$client" /health) in
      *'"health":"true"'*) return 0 ;;
    esac
    alive "$dir/m$i.pid" || { tail -n 20 "$dir/m$i.log" >&2; die "member $i exited"; }
    sleep 0.1
  done
  tail -n 20 "$dir/m$i.log" >&2
  die "member $i not healthy after a minute"
}

cmd_start() {
  local dir=${1:?start DIR [N]} n=${2:-3} i initial="" endpoints="" c p
  [ -n "$(etcd_bin)" ] || die "etcd is missing: bash $0 install"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -f "$dir/cluster.env" ] && die "$dir/cluster.env exists: stop that cluster or pick another folder"
  {
    echo "MEMBERS=$n"
    for i in $(seq 0 $((n - 1))); do
      free_port; c=$PORT
      free_port; p=$PORT
      echo "CLIENT_$i=$c"
      echo "PEER_$i=$p"
      initial="$initial${initial:+,}m$i=http://127.0.0.1:$p"
      endpoints="$endpoints${endpoints:+,}127.0.0.1:$c"
    done
    echo "INITIAL_CLUSTER=$initial"
    echo "ENDPOINTS=$endpoints"
  } >"$dir/cluster.env.tmp"
  mv "$dir/cluster.env.tmp" "$dir/cluster.env"
  load "$dir"
  # Members of a new cluster wait for each other: start them all, then wait.
  for i in $(seq 0 $((MEMBERS - 1))); do launch "$dir" "$i" new; done
  for i in $(seq 0 $((MEMBERS - 1))); do wait_healthy "$dir" "$i"; done
  echo "ENDPOINTS=$ENDPOINTS"
}

cmd_kill() {
  local dir=${1:?kill DIR I} i=${2:?kill DIR I} pid
  load "$dir"
  alive "$dir/m$i.pid" || die "member $i is not running"
  pid=$(cat "$dir/m$i.pid")
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/m$i.pid"
}

cmd_restart() {
  local dir=${1:?restart DIR I} i=${2:?restart DIR I}
  load "$dir"
  launch "$dir" "$i" existing
  wait_healthy "$dir" "$i"
}

cmd_stop() {
  local dir=${1:?stop DIR} i pid
  [ -f "$dir/cluster.env" ] || return 0
  load "$dir"
  # One at a time: a leader that is stopped hands its leadership to a
  # running member at once, while one stopped beside its followers waits
  # for the hand-over to time out (7 s).
  for i in $(seq 0 $((MEMBERS - 1))); do
    alive "$dir/m$i.pid" || { rm -f "$dir/m$i.pid"; continue; }
    pid=$(cat "$dir/m$i.pid")
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/m$i.pid"
  done
}

cmd_health() {
  local dir=${1:?health DIR} i c
  load "$dir"
  for i in $(seq 0 $((MEMBERS - 1))); do
    c=$(eval echo "\$CLIENT_$i")
    echo "m$i 127.0.0.1:$c $(http_get "$c" /health)"
  done
}

case "${1:-}" in
  install) cmd_install ;;
  start | kill | restart | stop | health) c=$1; shift; "cmd_$c" "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
