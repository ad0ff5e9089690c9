#!/usr/bin/env bash
# Runs libFuzzer targets one after the other (never two at once) for a given time each,
# starting from the committed corpus, then minimises what they found into a new corpus
# directory beside it. tests/fuzz/README.md says how to build the fuzzers first.
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
#     BUILD_DIR  a build with -DCAUSEWAY_BUILD_FUZZERS=ON (e.g. build/fuzz)
#     SECONDS    how long each target runs (issue 11 asks for 1200)
#     TARGET     batch, registry_schema, registry_rest, server_frame, client_frame,
#                cli_payload, pattern (default: all)
#
# Per target, in BUILD_DIR/fuzz-runs/<target>/: corpus/ (the committed corpus, then what
# the run added), artifacts/ (crash-*, leak-*, timeout-*: every finding), run.log (the
# libFuzzer output; its last "#N ... cov: ... ft: ... corp: ..." line gives the figures) and
# merged/ (the committed seed_* and regression_* files plus the smallest set of run inputs
# that adds edges: -merge=1 -use_counters=0). To commit a merged corpus:
#   rm -r tests/fuzz/corpus/<target> && cp -r BUILD_DIR/fuzz-runs/<target>/merged tests/fuzz/corpus/<target>
#
# A run stops at its first finding. FUZZ_FORK=1 runs in fork mode instead (-fork=1
# -ignore_crashes=1: a job process at a time), which keeps going after a finding, so one known
# bug does not stop the clock (every crash input still lands in artifacts/), at several
# times less exec/s. FUZZ_OPTIONS overrides the options (default -rss_limit_mb=4096
# -timeout=30).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ $# -lt 2 ]; then
  sed -n '2,24p' "$0" >&2
  exit 2
fi
BUILD="$(cd "$1" && pwd)"
SECONDS_EACH="$2"
shift 2
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(batch registry_schema registry_rest server_frame client_frame cli_payload pattern)
FUZZ_OPTIONS="${FUZZ_OPTIONS:--rss_limit_mb=4096 -timeout=30}"

for t in "${TARGETS[@]}"; do
  fuzzer="$BUILD/tests/fuzz/${t}_fuzzer"
  if [ ! -x "$fuzzer" ]; then
    echo "error: $fuzzer not built (ninja -C $BUILD fuzzers)" >&2
    exit 1
  fi
  run="$BUILD/fuzz-runs/$t"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/artifacts" "$run/merged"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$run/corpus/"
  before=$(ls "$run/corpus" | wc -l)
  echo "==> $t: ${SECONDS_EACH}s from $before corpus files ($(date -u +%H:%M:%S) UTC)"
  fork=()
  [ "${FUZZ_FORK:-0}" = 1 ] && fork=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  # shellcheck disable=SC2086
  (cd "$run" && "$fuzzer" "${fork[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
     -artifact_prefix="$run/artifacts/" $FUZZ_OPTIONS corpus) > "$run/run.log" 2>&1 || true
  grep -E '^#[0-9]+:? +(pulse|NEW|REDUCE|DONE|cov)' "$run/run.log" | tail -1 || tail -5 "$run/run.log"
  # Keep the hand-made seeds and regression inputs, add the run's inputs that add coverage.
  find "$ROOT/tests/fuzz/corpus/$t" -maxdepth 1 -type f \( -name 'seed_*' -o -name 'regression_*' \) \
    -exec cp {} "$run/merged/" \;
  # -use_counters=0: keep every edge, not every hit-count bucket, so that a corpus stays a
  # few hundred files.
  # shellcheck disable=SC2086
  (cd "$run" && "$fuzzer" -merge=1 -use_counters=0 $FUZZ_OPTIONS merged corpus) > "$run/merge.log" 2>&1 || true
  echo "    corpus: $before files before, $(ls "$run/corpus" | wc -l) after the run," \
       "$(ls "$run/merged" | wc -l) merged ($(du -sh "$run/merged" | cut -f1)); findings:" \
       "$(ls "$run/artifacts" | wc -l)"
done
