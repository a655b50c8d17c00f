# Shared set-up for scripts/dev.sh and scripts/test.sh. Sourced, not run.
# It installs what a fresh Debian machine lacks when it can (as root), and
# otherwise stops with one line saying what to install.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# go-zetasql (the SQL analyzer and the BigQuery emulator's engine) is C++
# built through cgo; only clang compiles it (g++ 12 fails).
export CGO_ENABLED=1 CC=clang CXX=clang++

APT_UPDATED=0
apt_install() {
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "querygate: missing $*; install it (Debian: sudo apt-get install -y $*) and run this again" >&2
    exit 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  echo "querygate: installing $* with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "querygate: Go 1.26 or newer is required: install it from the Go project's downloads and run this again" >&2
    exit 1
  fi
}

need_clang() {
  command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1 || apt_install clang
}

# build_with_progress PKG... compiles, telling the user up front that the
# first build compiles ZetaSQL, and printing a heartbeat while it works.
build_with_progress() {
  local out="$1"; shift
  if [ ! -f "$(go env GOCACHE)/.querygate-zetasql-built" ]; then
    echo "querygate: the first build compiles ZetaSQL (C++): about 15 minutes on 2 cores and ~5 GB of memory. Later builds take seconds." >&2
  fi
  local start=$SECONDS
  go build -o "$out" "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    if kill -0 "$pid" 2>/dev/null; then
      echo "querygate: still building... $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s elapsed" >&2
    fi
  done
  wait "$pid"
  touch "$(go env GOCACHE)/.querygate-zetasql-built"
}
