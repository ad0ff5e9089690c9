#!/usr/bin/env bash
# Runs the storage micro benchmarks and prints the medians as one table of ratios to the
# machine's ceiling (bench/micro/README.md). Builds nothing: pass the built binary.
#
#   bench/micro/run_storage_bench.sh [-r REPS] [-o OUT.json] [BINARY] [-- BENCHMARK ARGS...]
#
#   BINARY   default build/release/bench/micro/storage_bench
#   -r REPS  --benchmark_repetitions (default 5; compare.py wants 9 or more)
#   -o FILE  where the JSON goes (default storage_bench-<date>.json in the current directory)
#   after --, arguments for the benchmark binary, e.g. --benchmark_filter=Append
#
# Environment: CAUSEWAY_BENCH_DIR picks the scratch directory's parent (default /tmp; it
# must be on the disk under test). CAUSEWAY_BENCH_CPUS is the taskset CPU list (default:
# the first two CPUs, the size of our reference machine); set it empty not to pin.
# To re-print a table from an existing file: python3 bench/micro/storage_report.py FILE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
reps=5
out=""
while getopts "r:o:h" opt; do
  case "$opt" in
    r) reps="$OPTARG" ;;
    o) out="$OPTARG" ;;
    h) sed -n '2,17p' "$0"; exit 0 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
bin="build/release/bench/micro/storage_bench"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  bin="$1"
  shift
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift
if [[ ! -x "$bin" ]]; then
  echo "run_storage_bench.sh: no benchmark binary at $bin (build the storage_bench target first)" >&2
  exit 2
fi
[[ -n "$out" ]] || out="storage_bench-$(date +%Y%m%d-%H%M%S).json"

pin=()
if [[ -z "${CAUSEWAY_BENCH_CPUS+set}" ]]; then
  ncpu="$(nproc 2>/dev/null || echo 1)"
  if ((ncpu >= 2)); then CAUSEWAY_BENCH_CPUS="0,1"; else CAUSEWAY_BENCH_CPUS="0"; fi
fi
if [[ -n "$CAUSEWAY_BENCH_CPUS" ]]; then
  if command -v taskset >/dev/null 2>&1; then
    pin=(taskset -c "$CAUSEWAY_BENCH_CPUS")
  else
    echo "run_storage_bench.sh: taskset not found; running unpinned" >&2
  fi
fi

echo "run_storage_bench.sh: ${pin[*]:-(unpinned)} $bin, $reps repetitions -> $out" >&2
"${pin[@]}" "$bin" \
  --benchmark_repetitions="$reps" \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" \
  --benchmark_out_format=json \
  "$@" >&2
python3 "$here/storage_report.py" "$out"
