#!/usr/bin/env bash
# The production topology on one machine, without Docker: a redis-server
# (AOF on), two apiservers, nginx in front of them with deploy/nginx.conf's
# rules, and a worker; all on loopback. Ctrl-C (or the end of the script,
# or any of them dying) stops them all. Runs as any user: nothing is
# written outside a temporary directory, and every port is above 1024.
#
#   bash scripts/local-cluster.sh
#   curl -X POST localhost:8080/api/v1/jobs -H 'Content-Type: application/json' -d '{"type": "demo"}'
#
# Everything listens on loopback only, so the API is open to this
# machine's users (API_ALLOW_NO_KEYS=1) unless API_KEYS is set in the
# environment, which the apiservers then require.
# Ports and sizes, from the environment: LB_PORT (8080), API_PORTS
# ("8001 8002"), REDIS_PORT (6390), WORKERS (1), WORKER_CONCURRENCY (4).
# KEEP_DIR=1 keeps the directory (logs, Redis data) when it stops.
# Needs go, redis-server and nginx (apt-get install -y redis-server
# nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

lb_port=${LB_PORT:-8080}
read -r -a api_ports <<<"${API_PORTS:-8001 8002}"
redis_port=${REDIS_PORT:-6390}
workers=${WORKERS:-1}
concurrency=${WORKER_CONCURRENCY:-4}

for tool in go redis-server nginx; do
  command -v "$tool" >/dev/null || { echo "local-cluster: $tool is missing (apt-get install -y redis-server nginx-light; Go from go.dev)" >&2; exit 1; }
done
if [ "${#api_ports[@]}" -ne 2 ]; then
  echo "local-cluster: API_PORTS must name two ports, as deploy/nginx.conf has two upstream servers" >&2
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/jobqueue-local.XXXXXX")
mkdir -p "$dir/bin" "$dir/redis" "$dir/nginx"
pids=()
names=()

stop() {
  trap - EXIT INT TERM
  for i in "${!pids[@]}"; do
    kill "${pids[$i]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP_DIR:-}" = 1 ]; then
    echo "local-cluster: stopped; logs and data kept in $dir"
  else
    rm -rf "$dir"
    echo "local-cluster: stopped"
  fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME LOG COMMAND...: runs a process in the background, logging to
# $dir/LOG.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$dir/$log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# ready PORT: whether GET /readyz on the loopback PORT answers 200 (bash's
# own /dev/tcp, so curl need not be installed).
ready() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ $reply == "HTTP/1."?" 200"* ]]
}

# wait_for WHAT COMMAND...: retries COMMAND for up to 20 s.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 200); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "local-cluster: $what did not come up; see the logs in $dir" >&2
  KEEP_DIR=1
  exit 1
}

echo "local-cluster: building the binaries (the first build takes minutes on a small machine)"
go build -o "$dir/bin/" ./cmd/apiserver ./cmd/worker

start redis redis.log redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" \
  --appendonly yes --maxmemory-policy noeviction --zset-max-listpack-entries 16 --save ""
wait_for "redis-server" redis-cli -p "$redis_port" ping
redis_url="redis://127.0.0.1:$redis_port/0"

for i in 0 1; do
  start "apiserver$((i + 1))" "apiserver$((i + 1)).log" \
    env API_ALLOW_NO_KEYS=1 REDIS_URL="$redis_url" HTTP_ADDR="127.0.0.1:${api_ports[$i]}" "$dir/bin/apiserver"
done
for i in $(seq "$workers"); do
  start "worker$i" "worker$i.log" \
    env REDIS_URL="$redis_url" WORKER_ID="local-worker$i" WORKER_CONCURRENCY="$concurrency" "$dir/bin/worker"
done

# nginx: deploy/nginx.conf with its upstreams, port, pid and temporary
# files moved to loopback and $dir; the proxy rules are the file's own.
sed -e "s|^\(\s*server\s\+\)apiserver1:8000|\1127.0.0.1:${api_ports[0]}|" \
  -e "s|^\(\s*server\s\+\)apiserver2:8000|\1127.0.0.1:${api_ports[1]}|" \
  -e "s|^\(\s*listen\s\+\)[^;]*;|\1127.0.0.1:$lb_port;|" \
  -e "s|^pid .*;|pid $dir/nginx/nginx.pid;|" \
  -e "s|^http {|http {\n    client_body_temp_path $dir/nginx/client_body;\n    proxy_temp_path $dir/nginx/proxy;\n    fastcgi_temp_path $dir/nginx/fastcgi;\n    uwsgi_temp_path $dir/nginx/uwsgi;\n    scgi_temp_path $dir/nginx/scgi;|" \
  deploy/nginx.conf >"$dir/nginx/nginx.conf"
if ! grep -q "127.0.0.1:${api_ports[1]}" "$dir/nginx/nginx.conf" || ! grep -q "listen 127.0.0.1:$lb_port;" "$dir/nginx/nginx.conf"; then
  echo "local-cluster: deploy/nginx.conf no longer has the upstreams and listen line this script rewrites" >&2
  exit 1
fi
start nginx nginx.log nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" \
  -g "daemon off; master_process off; error_log $dir/nginx/error.log warn;"

for port in "${api_ports[@]}"; do
  wait_for "the apiserver on port $port" ready "$port"
done
wait_for "nginx on port $lb_port" ready "$lb_port"

cat <<EOF
local-cluster: up
  load balancer  http://127.0.0.1:$lb_port  (nginx with deploy/nginx.conf's rules)
  apiservers     http://127.0.0.1:${api_ports[0]}  http://127.0.0.1:${api_ports[1]}
  workers        $workers, $concurrency jobs each
  redis          $redis_url  (data in $dir/redis)
  logs           $dir/*.log, $dir/nginx/error.log
Try:  curl -X POST localhost:$lb_port/api/v1/jobs -H 'Content-Type: application/json' -d '{"type": "demo"}'
      open http://127.0.0.1:$lb_port/ for the dashboard
Ctrl-C stops them all.
EOF

# Wait until one of them exits (then stop the rest) or a signal comes.
set +e
wait -n
code=$?
set -e
for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "local-cluster: ${names[$i]} exited (status $code); stopping the others. Its log: $dir" >&2
  fi
done
KEEP_DIR=1
exit 1
