# Shared by scripts/run and scripts/test: the Debian packages Causeway builds with, and a
# function that installs whichever are missing. Sourced, not executed.

# Build and runtime dependencies (README.md, "Dependencies", says why each is here).
CAUSEWAY_BUILD_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libasio-dev libflatbuffers-dev flatbuffers-compiler liblmdb-dev libcli11-dev
  libspdlog-dev libfmt-dev libxxhash-dev nlohmann-json3-dev libabsl-dev libcpp-httplib-dev libutf8proc-dev libsimdjson-dev
  prometheus-cpp-dev libssl-dev openssl
)
# Only needed to build and run the tests and benchmarks.
# prometheus: its promtool checks the metrics exposition, and the server scrapes the broker
# in a test (tests/integration/metrics_test.cc); its own service is never started by us.
# tmux: a real terminal for `causeway top` (tests/integration/top_test.cc).
CAUSEWAY_TEST_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev prometheus tmux)

causeway_missing_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]}"
}

# causeway_ensure_packages PKG...: installs what is missing with apt-get (as root), or
# explains what to run when not root.
causeway_ensure_packages() {
  local missing
  missing=$(causeway_missing_packages "$@")
  [ -z "$missing" ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing packages ($missing) and no apt-get; Causeway targets Debian 12." >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages: $missing" >&2
    echo "       run as root, or install them first: sudo apt-get install -y $missing" >&2
    return 1
  fi
  echo "==> installing missing packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages that ship a service (prometheus, for the tests) must not start it: where no
  # policy says so already (containers usually have one), say so for this install only.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  local status=0
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null || status=$?
  [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
  return $status
}

causeway_jobs() {
  local n
  n=$(nproc 2>/dev/null || echo 2)
  echo "$n"
}
