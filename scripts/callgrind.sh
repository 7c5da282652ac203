#!/usr/bin/env bash
# Redis instructions per job, per measured phase, of a pkg/queue benchmark:
# runs the benchmark against a redis-server under callgrind, which dumps
# its counts at each phase's edge (redisMeter.edge, BENCH_PHASE_CMD), and
# prints each phase's instructions divided by the benchmark's jobs. Counts
# repeat to about 1% where Redis CPU time moves by a fifth from run to
# run: the way to rank two versions of a script (docs/benchmarks.md).
#
#   bash scripts/callgrind.sh 'BenchmarkTransitions$' 2000
#   bash scripts/callgrind.sh BenchmarkPipelineTransitions 2000
#   bash scripts/callgrind.sh BenchmarkSubmitBatches 800
#
# The second argument is the benchmark's b.N (-benchtime Nx), the jobs
# each phase's count is divided by. Needs valgrind (apt-get install -y
# valgrind). Under callgrind Redis runs some 50 times slower: compare such
# runs with each other only.
#
# Where the instructions go, by function: CALLGRIND_TOP=N prints, after
# each phase, its N costliest Redis and Lua functions (their own
# instructions) and its commands with what they cost in all, per job
# (scripts/callgrind_top.py). Debian's redis-server has no symbols; build
# one of the same version with them (docs/benchmarks.md, "How it was
# profiled") and name it in CALLGRIND_REDIS.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:?usage: callgrind.sh BENCHMARK_REGEXP N}
n=${2:?usage: callgrind.sh BENCHMARK_REGEXP N}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found (apt-get install -y valgrind)" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/redis-server" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file=$dir/out.%p ${CALLGRIND_REDIS:-$(command -v redis-server)} "\$@"
SH
chmod +x "$dir/redis-server"

REDIS_SERVER="$dir/redis-server" BENCH_PHASE_CMD='callgrind_control -d $PHASE $REDIS_PID >/dev/null' \
  go test ./pkg/queue -run '^$' -bench "$bench" -benchtime "${n}x" >"$dir/bench.log" 2>&1 ||
  { cat "$dir/bench.log" >&2; exit 1; }

# Every redis-server of the run leaves dumps (a shared one too); the
# benchmark's own is the one with the most instructions past its start.
total() { grep -m1 -E '^(summary|totals):' "$1" | awk '{print $2}'; }
trigger() { grep -m1 '^desc: Trigger' "$1" | sed 's/.*dump //'; }
best= best_sum=0
for pid in $(ls "$dir" | sed -n 's/^out\.\([0-9]*\)\.[0-9]*$/\1/p' | sort -u); do
  sum=0
  for f in "$dir"/out."$pid".*; do
    [ "$(trigger "$f")" = start ] || sum=$((sum + $(total "$f")))
  done
  if [ "$sum" -gt "$best_sum" ]; then best=$pid best_sum=$sum; fi
done
[ -n "$best" ] || { echo "callgrind.sh: no phase was dumped (does $bench use redisMeter?)" >&2; exit 1; }
for f in $(ls -tr "$dir"/out."$best".*); do
  phase=$(trigger "$f")
  [ "$phase" = start ] && continue
  awk -v p="$phase" -v t="$(total "$f")" -v n="$n" 'BEGIN { printf "%-12s %8.1fk instructions/job\n", p, t / n / 1000 }'
  if [ -n "${CALLGRIND_TOP:-}" ]; then python3 scripts/callgrind_top.py "$f" "$n" "$CALLGRIND_TOP"; fi
done
awk -v t="$best_sum" -v n="$n" 'BEGIN { printf "%-12s %8.1fk instructions/job\n", "(sum)", t / n / 1000 }'
