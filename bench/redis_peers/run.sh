#!/usr/bin/env bash
# Redis peers, in one run against one server (HALT_REDIS_ADDR, default
# 127.0.0.1:6390; `make redis-up` or scripts/redis.sh start):
#   1. decisions/s and allocations per decision at 1, 16 and 64 concurrent
#      callers for haltredis, go-redis/redis_rate v10 and ulule/limiter v3's
#      Redis store (go test -bench, each repeated COUNT times, interleaved);
#   2. the server's ceiling: redis-benchmark running EVALSHA of a trivial
#      script, of a script that only does the Redis calls a decision needs
#      (TIME, GET, SET PX: the floor of any script on the server's clock that
#      keeps state), and of Halt's own script, with 1 client (what one caller
#      can get at best) and with 64 clients, unpipelined and pipelined 16
#      deep.
set -euo pipefail
cd "$(dirname "$0")"
ADDR="${HALT_REDIS_ADDR:-127.0.0.1:6390}"
HOST="${ADDR%:*}"
PORT="${ADDR##*:}"
COUNT="${COUNT:-3}"
BENCHTIME="${BENCHTIME:-2s}"

echo "== $(date -u +%FT%TZ) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== go test -bench BenchmarkRedisPeers -benchtime $BENCHTIME -count $COUNT"
GOWORK=off go test -run '^$' -bench BenchmarkRedisPeers -benchtime "$BENCHTIME" -count "$COUNT" .

TRIVIAL=$(redis-cli -h "$HOST" -p "$PORT" SCRIPT LOAD "return 1")
FLOOR=$(redis-cli -h "$HOST" -p "$PORT" SCRIPT LOAD "local t = redis.call('TIME') local v = redis.call('GET', KEYS[1]) redis.call('SET', KEYS[1], struct.pack('<Bddd', 1, tonumber(t[1]), tonumber(t[2]), 0), 'PX', 3601001) return '1 0 1 0 0 0'")
HALT=$(redis-cli -h "$HOST" -p "$PORT" SCRIPT LOAD "$(GOWORK=off go run ./cmd/haltscript)")
# Halt's script as the store calls it: Redis TIME, cost 1, token bucket,
# capacity 2^40, rate 2^40 per hour (always admitted), no cooldown, random keys.
HARGS=(1 'bench:rb:halt:bench:{ip:__rand_int__}' 0 1 0 1099511627776 305419896.88888889 0)
for cp in "1 1" "64 1" "64 16"; do
  read -r c pipe <<<"$cp"
  n=$((c == 1 ? 100000 : 300000))
  echo "== redis-benchmark -c $c -P $pipe EVALSHA trivial script"
  redis-benchmark -h "$HOST" -p "$PORT" -n "$n" -c "$c" -P "$pipe" -q EVALSHA "$TRIVIAL" 0 2>/dev/null | tr '\r' '\n' | tail -1
  echo "== redis-benchmark -c $c -P $pipe EVALSHA TIME+GET+SET floor script"
  redis-benchmark -h "$HOST" -p "$PORT" -n "$n" -c "$c" -P "$pipe" -r 100000 -q EVALSHA "$FLOOR" 1 'bench:rb:floor:{ip:__rand_int__}' 2>/dev/null | tr '\r' '\n' | tail -1
  echo "== redis-benchmark -c $c -P $pipe EVALSHA halt's script (token bucket)"
  redis-benchmark -h "$HOST" -p "$PORT" -n "$n" -c "$c" -P "$pipe" -r 100000 -q EVALSHA "$HALT" "${HARGS[@]}" 2>/dev/null | tr '\r' '\n' | tail -1
done
redis-cli -h "$HOST" -p "$PORT" --scan --pattern "bench:*" | xargs -r -n 500 redis-cli -h "$HOST" -p "$PORT" unlink >/dev/null
