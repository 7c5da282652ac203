#!/usr/bin/env bash
# The figures of docs/benchmarks.md's current table, as Markdown ready to
# paste, each with the machine's load beside it (the machine is shared:
# the load says how far to trust a time; counts of calls are exact):
#
#   1. jobbench, median of 3 runs, beside asynq, of the scenarios the
#      targets are about;
#   2. BenchmarkTransitions: Redis CPU and calls per job per transition;
#   3. with FLOOR_DIR set (a lifecycle floor probe: a Go program taking
#      -addr), the probe on a redis-server of its own, 3 runs.
#
#   bash scripts/bench-table.sh                # ~10 min on 2 busy cores
#   FLOOR_DIR=/path/to/lifecycle-floor bash scripts/bench-table.sh
#
# Arguments go to jobbench (e.g. -quick for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

load() { uptime | sed 's/.*load average: //'; }
scenarios=enqueue_single,enqueue_batch,process,process_progress,http_submit,drain_fleet

echo "## jobbench -repeat 3 ($(git rev-parse --short HEAD); load average $(load) before)"
echo
go run ./cmd/jobbench -repeat 3 -scenarios "$scenarios" -markdown "$@" 2>/dev/null | sed -n '/^| scenario |/,$p'
echo
echo "(load average $(load) after)"
echo
echo "## BenchmarkTransitions, 3 runs of 4000 jobs"
echo
echo "| run | load | transition | Redis µs/job | calls/job |"
echo "|---|---|---|---|---|"
for i in 1 2 3; do
  l=$(load)
  go test ./pkg/queue -run XXX -bench BenchmarkTransitions -benchtime 4000x 2>/dev/null |
    grep '^BenchmarkTransitions' | tr -s ' \t' '\n' |
    awk -v run="$i" -v load="$l" '
      /-redis-µs\/job$/ { t = $0; sub(/-redis-µs\/job$/, "", t); us[t] = prev }
      /-calls\/job$/    { t = $0; sub(/-calls\/job$/, "", t); calls[t] = prev }
      { prev = $0 }
      END { n = split("submit claim progress complete", order, " ")
            for (k = 1; k <= n; k++) { t = order[k]; printf "| %s | %s | %s | %s | %s |\n", run, load, t, us[t], calls[t] } }'
done

if [ -n "${FLOOR_DIR:-}" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis.pid" >/dev/null
  trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
  sleep 0.5
  echo
  echo "## The floor probe, 3 runs"
  echo
  echo "| run | load | submit | claim + complete |"
  echo "|---|---|---|---|"
  for i in 1 2 3; do
    l=$(load)
    out=$(cd "$FLOOR_DIR" && go run . -addr "127.0.0.1:$port")
    sub=$(echo "$out" | sed -n 's/^submit: \(.*\)/\1/p')
    proc=$(echo "$out" | sed -n 's/^process: \([^(]*\).*/\1/p')
    echo "| $i | $l | $sub | $proc |"
  done
fi
