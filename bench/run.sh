#!/usr/bin/env bash
# Halt for Go benchmarks, side by side with peer libraries. `make bench` runs
# this script from the repository root (cd bench && ./run.sh). See README.md.
#
#   ./run.sh                  every section
#   ./run.sh decisions memory only the named sections (decisions, memory,
#                             cputime, redis, adapters)
#
# Environment:
#   COUNT=6        runs of each benchmark (benchstat reports the median)
#   BENCHTIME=1s   -benchtime of the timed benchmarks
#   OUT=results    where raw outputs (<section>.txt) and summaries go
#   BENCHSTAT=...  the benchstat to `go run`
#
# Each section writes $OUT/<section>.txt (raw `go test -bench` output) and
# $OUT/<section>.benchstat.txt (medians). Sections belong to whoever wrote
# them; add yours as a function below and to SECTIONS, and keep to your own.
set -euo pipefail
cd "$(dirname "$0")"

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-1s}
OUT=${OUT:-results}
BENCHSTAT=${BENCHSTAT:-golang.org/x/perf/cmd/benchstat@latest}
mkdir -p "$OUT"

# bench NAME REGEX [go test flags...]: run the benchmarks matching REGEX in
# the bench module COUNT times into $OUT/NAME.txt, and summarise them. The
# test binary is built once and run COUNT rounds of -count=1: each round runs
# every benchmark once, so a busy spell on a shared machine spreads over all
# of them instead of spoiling one. Flags are go test's (-benchtime=2s).
bench() {
	local name=$1 regex=$2
	shift 2
	echo "== $name: $COUNT rounds of go test -run '^\$' -bench '$regex' -benchmem $*"
	GOWORK=off go test -c -o "$OUT/bench.test" .
	: >"$OUT/$name.txt"
	local i
	for ((i = 1; i <= COUNT; i++)); do
		"$OUT/bench.test" -test.run '^$' -test.bench "$regex" -test.benchmem "${@/#-/-test.}" | tee -a "$OUT/$name.txt"
	done
	summarise "$name"
}

# summarise NAME: benchstat medians of $OUT/NAME.txt into $OUT/NAME.benchstat.txt.
summarise() {
	local name=$1
	if go run "$BENCHSTAT" "$OUT/$name.txt" >"$OUT/$name.benchstat.txt" 2>"$OUT/$name.benchstat.err"; then
		cat "$OUT/$name.benchstat.txt"
	else
		echo "(benchstat unavailable: see $OUT/$name.benchstat.err; raw results in $OUT/$name.txt)"
	fi
}

# ---------------------------------------------------------------------------
# Section "decisions" (memory store and core): one decision per key for Halt's
# memory store, x/time/rate (one limiter; a mutex-guarded map of limiters),
# go-limiter, ulule and throttled, for 1 hot key and 10,000 keys, serial and
# parallel; the whole Limiter.Check on a request; the net/http middleware
# over a bare handler.
section_decisions() {
	bench decisions '^(BenchmarkAllowOne|BenchmarkTake|BenchmarkCheck|BenchmarkMiddleware)$' -benchtime="$BENCHTIME"
}

# Section "memory" (memory store): live heap per key after 1,000,000 keys
# "ip-%d" in each library's in-memory store. One op inserts the million.
section_memory() {
	bench memory '^BenchmarkMemoryPerKey$' -benchtime=1x
}

# Section "cputime" (memory store and core): the main comparisons again as
# the least thread CPU time per op over 200 short rounds (Linux), which a
# busy shared machine disturbs far less than wall-clock benchmarks.
section_cputime() {
	echo "== cputime: HALT_BENCH_CPUTIME=1 go test -run '^TestCPUTime\$' -count=1 -v"
	HALT_BENCH_CPUTIME=1 GOWORK=off go test -run '^TestCPUTime$' -count=1 -v . | tee "$OUT/cputime.txt"
}

# ---------------------------------------------------------------------------
# Section "redis" (Redis store): haltredis, go-redis/redis_rate v10 and
# ulule/limiter v3's Redis store at 1, 16 and 64 concurrent callers against
# one server, then redis-benchmark's EVALSHA ceilings (trivial script and
# Halt's). Its own module, bench/redis_peers (see its run.sh); it needs the
# Redis server `make bench` starts (HALT_REDIS_ADDR). Results:
# ../stores/redis/README.md.
section_redis() {
	echo "== redis: redis_peers/run.sh (COUNT=${REDIS_COUNT:-3} BENCHTIME=${REDIS_BENCHTIME:-2s})"
	COUNT="${REDIS_COUNT:-3}" BENCHTIME="${REDIS_BENCHTIME:-2s}" ./redis_peers/run.sh | tee "$OUT/redis.txt"
}

# ---------------------------------------------------------------------------
# Section "adapters" (framework adapters, bench/adapters_*.go): each
# framework's hello-world in-process (ServeHTTP, or fiber's fasthttp handler)
# bare, with Halt (memory store, limit never reached, a public client behind
# a trusted proxy), and with ulule/limiter's gin middleware and fiber's
# limiter (ns/op, and least thread CPU time per request, which a busy
# machine disturbs less); then requests/second over loopback HTTP with wrk,
# bare vs Halt.
# ADAPTERS_LOOPBACK=0 skips the loopback part; ADAPTERS_SECONDS and
# ADAPTERS_ROUNDS size it. Results and commands: RESULTS-adapters.md.
section_adapters() {
	bench adapters '^BenchmarkAdapter(Gin|Echo|Chi|Fiber)$' -benchtime="$BENCHTIME"
	echo "== adapters-cputime: HALT_BENCH_CPUTIME=1 go test -run '^TestAdapterCPUTime\$' -count=1 -v"
	HALT_BENCH_CPUTIME=1 GOWORK=off go test -run '^TestAdapterCPUTime$' -count=1 -v . | tee "$OUT/adapters-cputime.txt"
	if [ "${ADAPTERS_LOOPBACK:-1}" = 0 ]; then
		return
	fi
	if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1) || true
	fi
	if ! command -v wrk >/dev/null; then
		echo "== adapters-loopback: skipped, wrk not found (Debian: apt-get install -y wrk)"
		return
	fi
	echo "== adapters-loopback: wrk -t1 -c32, bare and Halt alternating, median of rounds"
	HALT_BENCH_LOOPBACK=1 HALT_BENCH_SECONDS="${ADAPTERS_SECONDS:-5}" HALT_BENCH_ROUNDS="${ADAPTERS_ROUNDS:-3}" \
		GOWORK=off go test -run '^TestAdapterLoopback$' -count=1 -v -timeout=60m . | tee "$OUT/adapters-loopback.txt"
}

# ---------------------------------------------------------------------------
ALL=(decisions memory cputime redis adapters)
SECTIONS=("${ALL[@]}")
if [ $# -gt 0 ]; then
	SECTIONS=("$@")
fi
for s in "${SECTIONS[@]}"; do
	if ! declare -F "section_$s" >/dev/null; then
		echo "run.sh: unknown section $s (known: ${ALL[*]})" >&2
		exit 2
	fi
	"section_$s"
done
echo "== raw results and benchstat summaries are in $OUT/"
