#!/usr/bin/env bash
# The cost of security, side by side: the same causeway-bench scenarios against a plaintext
# broker, a TLS broker, and a plaintext broker enforcing ACLs (a token, default deny, the bench's
# principal allowed by prefix ACLs), and, when nats-server is installed, NATS JetStream without
# and with TLS; interleaved round by round so that drift on the machine hits every side alike.
# Prints each row's median over the rounds and the TLS/plaintext and ACL/plaintext ratios
# (throughput: events/s; latency rows: p50/p99/p99.9). Certificates come from
# scripts/make-dev-certs. Loopback only; every wait is bounded; only processes this script
# started are stopped.
#
# usage: bench/security/run_security_bench.sh [-b BUILD_DIR] [-r ROUNDS] [-o OUT_DIR] [-- causeway-bench args...]
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
cli="$build/client/causeway"
for f in "$bench" "$broker" "$cli"; do
  [[ -x "$f" ]] || { echo "error: $f not found; build it: ninja -C $build causeway-broker causeway-bench" >&2; exit 1; }
done
bench_args=(--benchmarks pub100_os_c1,pub1k_os_c8,pub1k_fsync_c8,lat1k_os,lat1k_fsync,con1k_m1 --duration 3s)
[[ $# -gt 0 ]] && bench_args=("$@")

tmp=$(mktemp -d "${CAUSEWAY_BENCH_DIR:-/tmp}/causeway-tls-bench-XXXXXX")
[[ -z "$out" ]] && out="$tmp/results"
mkdir -p "$out"
# shellcheck source=../bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench_lib.sh"
cleanup() {
  stop_started
  rm -rf "$tmp/plain" "$tmp/tls" "$tmp/acl" "$tmp/nats-plain" "$tmp/nats-tls"
}
trap cleanup EXIT

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
pacl=$(free_port)
"$broker" --data-dir "$tmp/acl" --listen "127.0.0.1:$pacl" --registry-listen off --admin-listen off \
  --log-level warn --superuser root >"$tmp/acl.log" 2>&1 &
pids+=($!)
wait_port "$pplain" && wait_port "$ptls" && wait_port "$pacl" ||
  { echo "error: a broker did not start: $(cat "$tmp"/*.log)" >&2; exit 1; }
# The ACL broker: default deny, with the bench's principal allowed on bench.* only (and 20
# ACLs of other principals, so that a check is not a one-entry lookup).
root=$("$cli" --broker "127.0.0.1:$pacl" auth token create root 2>/dev/null)
token=$("$cli" --broker "127.0.0.1:$pacl" auth token create causeway-bench 2>/dev/null)
for op in publish subscribe admin; do
  "$cli" --broker "127.0.0.1:$pacl" --token "$root" acl add --principal causeway-bench --operation "$op" \
    --topic-prefix bench. >/dev/null
done
for i in $(seq 20); do
  "$cli" --broker "127.0.0.1:$pacl" --token "$root" acl add --principal "svc$i" --operation publish \
    --topic "other.$i" >/dev/null
done

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
  for mode in plain tls acl; do
    args=(--json "$out/$mode-$round.json")
    targets=causeway
    if [[ $mode == plain ]]; then
      args+=(--broker "127.0.0.1:$pplain")
      [[ $nats == 1 ]] && { targets+=",nats"; args+=(--nats-url "nats://127.0.0.1:$nplain"); }
    elif [[ $mode == acl ]]; then
      args+=(--broker "127.0.0.1:$pacl" --token "$token")
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
for mode in ("plain", "tls", "acl"):
    for r in range(1, rounds + 1):
        for x in json.load(open(f"{out}/{mode}-{r}.json"))["results"]:
            if x.get("error"):
                continue
            rows.setdefault((x["scenario"], x["target"], x["kind"]), {}).setdefault(mode, []).append(x)
def med(xs, k):
    return statistics.median(x[k] for x in xs)
def show(sc, kind, xs):
    if kind == "latency" or sc.startswith("e2e"):
        return f"{med(xs,'p50_us'):.0f}/{med(xs,'p99_us'):.0f}/{med(xs,'p999_us'):.0f} us"
    return f"{med(xs,'events_per_second')/1000:.0f}k ev/s"
def ratio(sc, kind, p, t):
    if kind == "latency" or sc.startswith("e2e"):
        return "/".join(f"{med(t,k)/med(p,k):.2f}" for k in ("p50_us", "p99_us", "p999_us")) + "x"
    return f"{med(t,'events_per_second')/med(p,'events_per_second'):.2f}x"
print(f"{'scenario':<16}{'target':<10}{'plaintext':>22}{'TLS':>22}{'TLS/plain':>18}{'ACLs':>22}{'ACLs/plain':>18}")
for (sc, target, kind), m in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    if "plain" not in m:
        continue
    p = m["plain"]
    cols = [f"{show(sc, kind, p):>22}"]
    for mode in ("tls", "acl"):
        if mode in m:
            cols.append(f"{show(sc, kind, m[mode]):>22}{ratio(sc, kind, p, m[mode]):>18}")
        else:
            cols.append(f"{'-':>22}{'-':>18}")
    print(f"{sc:<16}{target:<10}" + "".join(cols))
print(f"(medians of {rounds} rounds; JSON per round in {out})")
PY
