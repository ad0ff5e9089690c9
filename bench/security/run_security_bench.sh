#!/usr/bin/env bash
# TLS cost, side by side: the same causeway-bench scenarios against a plaintext broker and a
# TLS broker (and, when nats-server is installed, against NATS JetStream without and with
# TLS), interleaved round by round so that drift on the machine hits both sides alike. Prints
# each row's median over the rounds and the TLS/plaintext ratio (throughput: events/s;
# latency rows: p50/p99/p99.9). Certificates come from scripts/make-dev-certs. Loopback only;
# every wait is bounded; only processes this script started are stopped.
#
# usage: bench/tls/run_tls_bench.sh [-b BUILD_DIR] [-r ROUNDS] [-o OUT_DIR] [-- causeway-bench args...]
#   defaults: build/release, 3 rounds, scenarios pub100_os_c1,pub1k_os_c8,pub1k_fsync_c8,
#   lat1k_os,lat1k_fsync,con1k_m1 for 3s each (override with -- --benchmarks ... --duration ...)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=build/release
rounds=3
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) build="$2"; shift 2 ;;
    -r) rounds="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
bench="$build/bench/load/causeway-bench"
broker="$build/broker/causeway-broker"
for f in "$bench" "$broker"; do
  [[ -x "$f" ]] || { echo "error: $f not found; build it: ninja -C $build causeway-broker causeway-bench" >&2; exit 1; }
done
bench_args=(--benchmarks pub100_os_c1,pub1k_os_c8,pub1k_fsync_c8,lat1k_os,lat1k_fsync,con1k_m1 --duration 3s)
[[ $# -gt 0 ]] && bench_args=("$@")

tmp=$(mktemp -d "${CAUSEWAY_BENCH_DIR:-/tmp}/causeway-tls-bench-XXXXXX")
[[ -z "$out" ]] && out="$tmp/results"
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp/plain" "$tmp/tls" "$tmp/nats-plain" "$tmp/nats-tls"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # port: up to 10 s
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

"$root/scripts/make-dev-certs" --dir "$tmp/certs" >/dev/null
certs="$tmp/certs"

pplain=$(free_port)
"$broker" --data-dir "$tmp/plain" --listen "127.0.0.1:$pplain" --registry-listen off --admin-listen off \
  --log-level warn >"$tmp/plain.log" 2>&1 &
pids+=($!)
ptls=$(free_port)
"$broker" --data-dir "$tmp/tls" --listen "127.0.0.1:$ptls" --registry-listen off --admin-listen off \
  --log-level warn --tls-cert "$certs/server.pem" --tls-key "$certs/server-key.pem" >"$tmp/tls.log" 2>&1 &
pids+=($!)
wait_port "$pplain" && wait_port "$ptls" || { echo "error: a broker did not start: $(cat "$tmp"/*.log)" >&2; exit 1; }

nats=0
if command -v nats-server >/dev/null; then
  nplain=$(free_port); ntls=$(free_port)
  mkdir -p "$tmp/nats-plain" "$tmp/nats-tls"
  nats-server -js -sd "$tmp/nats-plain" -a 127.0.0.1 -p "$nplain" >"$tmp/nats-plain.log" 2>&1 &
  pids+=($!)
  nats-server -js -sd "$tmp/nats-tls" -a 127.0.0.1 -p "$ntls" --tls --tlscert "$certs/server.pem" \
    --tlskey "$certs/server-key.pem" >"$tmp/nats-tls.log" 2>&1 &
  pids+=($!)
  if wait_port "$nplain" && wait_port "$ntls"; then nats=1; else echo "warning: nats-server did not start" >&2; fi
else
  echo "note: nats-server not installed (apt-get install nats-server): Causeway rows only" >&2
fi

for round in $(seq "$rounds"); do
  for mode in plain tls; do
    args=(--json "$out/$mode-$round.json")
    targets=causeway
    if [[ $mode == plain ]]; then
      args+=(--broker "127.0.0.1:$pplain")
      [[ $nats == 1 ]] && { targets+=",nats"; args+=(--nats-url "nats://127.0.0.1:$nplain"); }
    else
      args+=(--broker "127.0.0.1:$ptls" --tls-ca "$certs/ca.pem")
      [[ $nats == 1 ]] && { targets+=",nats"; args+=(--nats-url "nats://127.0.0.1:$ntls" --nats-tls-ca "$certs/ca.pem"); }
    fi
    echo "== round $round/$rounds: $mode" >&2
    "$bench" --target "$targets" "${args[@]}" "${bench_args[@]}" >"$out/$mode-$round.txt" 2>&1 ||
      { echo "error: causeway-bench failed: $(tail -5 "$out/$mode-$round.txt")" >&2; exit 1; }
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for mode in ("plain", "tls"):
    for r in range(1, rounds + 1):
        for x in json.load(open(f"{out}/{mode}-{r}.json"))["results"]:
            if x.get("error"):
                continue
            rows.setdefault((x["scenario"], x["target"], x["kind"]), {}).setdefault(mode, []).append(x)
def med(xs, k):
    return statistics.median(x[k] for x in xs)
print(f"{'scenario':<16}{'target':<10}{'plaintext':>26}{'TLS':>26}{'TLS/plain':>22}")
for (sc, target, kind), m in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    if "plain" not in m or "tls" not in m:
        continue
    p, t = m["plain"], m["tls"]
    if kind == "latency" or sc.startswith("e2e"):
        f = lambda xs: f"{med(xs,'p50_us'):.0f}/{med(xs,'p99_us'):.0f}/{med(xs,'p999_us'):.0f} us"
        ratio = "/".join(f"{med(t,k)/med(p,k):.2f}" for k in ("p50_us", "p99_us", "p999_us")) + "x"
    else:
        f = lambda xs: f"{med(xs,'events_per_second')/1000:.0f}k ev/s"
        ratio = f"{med(t,'events_per_second')/med(p,'events_per_second'):.2f}x"
    print(f"{sc:<16}{target:<10}{f(p):>26}{f(t):>26}{ratio:>22}")
print(f"(medians of {rounds} rounds; JSON per round in {out})")
PY
