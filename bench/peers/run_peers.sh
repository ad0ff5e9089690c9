#!/usr/bin/env bash
# Runs causeway-bench against Causeway (spawned), NATS JetStream and Redis Streams in one run
# and prints one table: each row's Causeway figure and its ratio to each peer
# (bench/load/README.md): the publish rows and the consume rows (con*: durable consumer /
# group with per-event acks; e2e*: publish->handler latency). Loopback only; every wait
# below is bounded. Only the consume rows: -- --benchmarks con100_m1,con100_m4,con1k_m1,con1k_m4,e2e1k_os,e2e1k_fsync
#
# usage: bench/peers/run_peers.sh [-b BUILD_DIR] [-o OUT.json] [-- causeway-bench args...]
#   BUILD_DIR  a Release build holding broker/causeway-broker and bench/load/causeway-bench
#              (default build/release)
#   e.g.       bench/peers/run_peers.sh -b /tmp/load-build -- --duration 3s
# Environment: CAUSEWAY_BENCH_CPUS (default 0,1; empty: unpinned), CAUSEWAY_BENCH_DIR (temp
# dirs, default /tmp).
set -euo pipefail

build=build/release
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) build="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
bench="$build/bench/load/causeway-bench"
broker="$build/broker/causeway-broker"
for f in "$bench" "$broker"; do
  [[ -x "$f" ]] || { echo "error: $f not found; build it: ninja -C $build causeway-broker causeway-bench" >&2; exit 1; }
done

# Peer packages: installed only when running as root; otherwise say what to install.
packages=(nats-server redis-server libnats-dev libhiredis-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends "${missing[@]}"
    echo "note: re-run cmake and rebuild causeway-bench if libnats-dev/libhiredis-dev were just installed" >&2
  else
    echo "missing: ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

pin=()
cpus="${CAUSEWAY_BENCH_CPUS-0,1}"
if [[ -n "$cpus" ]] && command -v taskset >/dev/null; then pin=(taskset -c "$cpus"); fi

tmp=$(mktemp -d "${CAUSEWAY_BENCH_DIR:-/tmp}/causeway-peers-XXXXXX")
# shellcheck source=../bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench_lib.sh"
cleanup() {
  stop_started
  rm -rf "$tmp"
}
trap cleanup EXIT

targets=causeway
args=()
if command -v nats-server >/dev/null; then
  nport=$(free_port)
  mkdir -p "$tmp/nats"
  "${pin[@]}" nats-server -js -sd "$tmp/nats" -a 127.0.0.1 -p "$nport" >"$tmp/nats.log" 2>&1 &
  pids+=($!)
  if wait_port "$nport"; then
    targets+=",nats"; args+=(--nats-url "nats://127.0.0.1:$nport")
  else
    echo "warning: nats-server did not start; log: $(tail -5 "$tmp/nats.log")" >&2
  fi
else
  echo "warning: nats-server not installed: skipping NATS JetStream" >&2
fi
if command -v redis-server >/dev/null; then
  rport=$(free_port)
  mkdir -p "$tmp/redis"
  # appendfsync is switched per scenario by causeway-bench (CONFIG SET): always for the
  # fsync rows, everysec for the os rows.
  "${pin[@]}" redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp/redis" --appendonly yes \
    --appendfsync everysec --save '' --daemonize no >"$tmp/redis.log" 2>&1 &
  pids+=($!)
  if wait_port "$rport"; then
    targets+=",redis"; args+=(--redis "127.0.0.1:$rport")
  else
    echo "warning: redis-server did not start; log: $(tail -5 "$tmp/redis.log")" >&2
  fi
else
  echo "warning: redis-server not installed: skipping Redis Streams" >&2
fi

[[ -n "$out" ]] && args+=(--json "$out")
CAUSEWAY_BENCH_DIR="${CAUSEWAY_BENCH_DIR:-/tmp}" "${pin[@]}" "$bench" --target "$targets" \
  --spawn-broker "$broker" "${args[@]}" "$@"
