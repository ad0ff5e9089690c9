#!/usr/bin/env bash
# ctest readme_examples: runs the README's user commands, in order and as written, against
# a real causeway-broker (and the standalone causeway-registry it shows) on ports chosen at
# run time, so that the README stays runnable top to bottom (issue 12). Each command must
# exit 0, or 1 where its comment says "exit 1"; where its comment shows output (JSON, or a
# quoted message, with "..." for the parts that vary), the output must hold those pieces in
# that order. Skipped: scripts/, building, benchmarks, and the PATH export (the programs'
# directory is put on PATH here). All traffic stays on 127.0.0.1; only the daemons this
# script started are stopped, by their PIDs.
# Usage: run_readme_test.sh SOURCE_DIR BIN_DIR_OF_BROKER BIN_DIR_OF_REGISTRY BIN_DIR_OF_CLI [README]
set -uo pipefail
src="$1"
readme="${5:-$src/README.md}"
work="$(mktemp -d)"
broker_pid=""
registry_pid=""
cleanup() {
  # Only what this script started, by PID.
  [[ -n "$registry_pid" ]] && kill -TERM "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  [[ -n "$broker_pid" ]] && kill -TERM "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
export PATH="$2:$3:$4:$PATH"
cd "$work" || exit 1
ln -s "$src/schemas" schemas  # the README's paths are relative to the repository

# Waits for "listening on ..." in a daemon's log and prints the address.
address_from() {
  local log="$1" pattern="$2"
  for _ in $(seq 1 300); do
    local a
    a=$(grep -o "$pattern[0-9.:]*" "$log" | head -1 | sed "s|$pattern||")
    [[ -n "$a" ]] && grep -q "ready" "$log" && { echo "$a"; return 0; }
    sleep 0.1
  done
  echo "no '$pattern' in $log:" >&2
  cat "$log" >&2
  return 1
}

causeway-broker --listen 127.0.0.1:0 --registry-listen 127.0.0.1:0 --data-dir "$work/causeway-data" >"$work/broker.log" 2>&1 &
broker_pid=$!
CAUSEWAY_BROKER=$(address_from "$work/broker.log" "info listening on ") || exit 1
CAUSEWAY_REGISTRY="http://$(address_from "$work/broker.log" "registry listening on http://")" || exit 1
export CAUSEWAY_BROKER CAUSEWAY_REGISTRY

# Whether OUTPUT holds the pieces of SHOWN (split at "...") in order.
shows() {
  local output="$1" shown="$2" piece
  while :; do
    piece="${shown%%...*}"
    if [[ -n "$piece" ]]; then
      [[ "$output" == *"$piece"* ]] || return 1
      output="${output#*"$piece"}"
    fi
    [[ "$shown" == *...* ]] || return 0
    shown="${shown#*...}"
  done
}

failures=0
n=0
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  case "$line" in
    # Building, installing and benchmarking (continuation lines start with blanks).
    scripts/*|cmake\ *|ctest\ *|ninja\ *|bench/*|build/*|export\ PATH=*|sudo\ *|apt-get\ *|CC=*|[[:space:]]*) continue ;;
  esac
  n=$((n + 1))
  if [[ "$line" == causeway-registry\ * ]]; then
    # The standalone registry runs in "a third shell": here in the background, on a free
    # loopback port, started directly (not through a shell) so that $! is its own PID.
    read -ra words <<<"${line%%#*}"
    for i in "${!words[@]}"; do [[ "${words[$i]}" == --listen ]] && words[$((i + 1))]=127.0.0.1:0; done
    [[ " ${words[*]} " == *" --listen "* ]] || words+=(--listen 127.0.0.1:0)
    "${words[@]}" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    address_from "$work/registry.log" "registry listening on http://" >/dev/null || exit 1
    continue
  fi
  expected=0
  [[ "$line" == *"# exit 1"* ]] && expected=1
  output=$(bash -c "$line" 2>&1)
  status=$?
  shown=""
  [[ "$line" == *"  # "* ]] && shown="${line##*  # }"
  case "$shown" in
    \"*\") shown="${shown:1:${#shown}-2}" ;;
    \{*|\[*) ;;
    *) shown="" ;;  # prose, not output
  esac
  if [[ $status -ne $expected ]]; then
    echo "FAILED (exit $status, expected $expected): $line"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  elif [[ -n "$shown" ]] && ! shows "$output" "$shown"; then
    echo "FAILED (output does not show $shown): $line"
    echo "$output" | sed 's/^/    /'
    failures=$((failures + 1))
  else
    echo "ok: $line"
  fi
done < <(awk '/^```sh/{f=1;next}/^```/{f=0}f' "$readme")

echo "$n README command(s), $failures failed"
[[ $n -ge 20 ]] || { echo "expected the README to hold at least 20 commands; did the extraction break?"; exit 1; }
exit $((failures > 0))
