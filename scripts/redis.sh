#!/usr/bin/env bash
# Starts and stops the throwaway Redis the tests and benchmarks use: a
# standalone redis-server and a local 3-node Redis Cluster, on loopback only.
#
#   scripts/redis.sh start   install redis-server/redis-tools/redis-sentinel if missing, start both, wait until ready
#   scripts/redis.sh stop    stop both and remove their data
#
# Addresses come from HALT_REDIS_ADDR (default 127.0.0.1:6390) and
# HALT_REDIS_CLUSTER (default 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103).
# Both commands are idempotent and clean up leftovers of an earlier run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.tmp/redis"
ADDR="${HALT_REDIS_ADDR:-127.0.0.1:6390}"
CLUSTER="${HALT_REDIS_CLUSTER:-127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103}"
IFS=',' read -r -a NODES <<<"$CLUSTER"

log() { echo "redis.sh: $*" >&2; }

port_of() { echo "${1##*:}"; }
host_of() { echo "${1%:*}"; }

# install: redis-server, redis-cli and redis-sentinel (the Sentinel tests
# start their own) from Debian's packages, when any is missing.
install() {
  if command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v redis-sentinel >/dev/null; then
    return
  fi
  log "installing redis-server, redis-tools and redis-sentinel"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools redis-sentinel >/dev/null
}

# stop_one ADDR: shut the server down (or kill it by its pid file).
stop_one() {
  local host port pidf
  host="$(host_of "$1")"
  port="$(port_of "$1")"
  pidf="$DIR/$port/redis.pid"
  redis-cli -h "$host" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  if [[ -f "$pidf" ]]; then
    local pid
    pid="$(cat "$pidf" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  for _ in $(seq 1 50); do
    redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1 || break
    sleep 0.1
  done
  rm -rf "${DIR:?}/$port"
}

# start_one ADDR [extra args...]
start_one() {
  local host port
  host="$(host_of "$1")"
  port="$(port_of "$1")"
  shift
  mkdir -p "$DIR/$port"
  redis-server --bind "$host" --port "$port" --daemonize yes \
    --dir "$DIR/$port" --pidfile "$DIR/$port/redis.pid" --logfile "$DIR/$port/redis.log" \
    --save '' --appendonly no --protected-mode no "$@"
  for _ in $(seq 1 100); do
    if redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; then
      return 0
    fi
    sleep 0.1
  done
  log "redis-server on $host:$port did not start; log:"
  cat "$DIR/$port/redis.log" >&2 || true
  return 1
}

start() {
  install
  # Leftovers from an earlier run (crashed test, stale nodes.conf) go first.
  stop
  mkdir -p "$DIR"
  start_one "$ADDR"
  for n in "${NODES[@]}"; do
    start_one "$n" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000
  done
  redis-cli --cluster create "${NODES[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/cluster-create.log" 2>&1 || {
    log "cluster create failed:"
    cat "$DIR/cluster-create.log" >&2
    return 1
  }
  for n in "${NODES[@]}"; do
    local ok=""
    for _ in $(seq 1 100); do
      if redis-cli -h "$(host_of "$n")" -p "$(port_of "$n")" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
        ok=1
        break
      fi
      sleep 0.1
    done
    if [[ -z "$ok" ]]; then
      log "cluster node $n is not ready"
      return 1
    fi
  done
  log "standalone on $ADDR, cluster on $CLUSTER"
}

stop() {
  if ! command -v redis-cli >/dev/null; then
    rm -rf "$DIR"
    return 0
  fi
  stop_one "$ADDR"
  for n in "${NODES[@]}"; do
    stop_one "$n"
  done
  rm -rf "$DIR"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
