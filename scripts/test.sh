#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing
# (Debian/Ubuntu packages, through apt-get; as root or with sudo), then
# runs every test of the module under the race detector. Arguments go to
# `go test` (e.g. `bash scripts/test.sh -run TestCrashStorm ./faults/`).
#
# The tests start their own redis-server (and nginx for the load-balancer
# tests, headless Chromium for the dashboard's browser test); they never
# skip silently for a missing binary under CI=1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools) # creates the test Redis Cluster
command -v nginx >/dev/null || need+=(nginx-light)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v chromium >/dev/null || need+=(chromium)
command -v python3 >/dev/null || need+=(python3) # e2e/testdata/jobs_api_client.py and sdk/python (standard library only)
if [ ${#need[@]} -gt 0 ]; then
  echo "test: installing ${need[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test: missing ${need[*]}; install them (apt-get install -y ${need[*]}) or run as root" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
redis-server --version

if [ $# -eq 0 ]; then
  set -- ./...
fi
exec go test -race -count=1 "$@"
