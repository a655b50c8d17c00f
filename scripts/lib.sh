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

# terraform_checks runs `terraform init -backend=false`, `terraform validate`
# and the terraform test files (a plan with a mocked google provider) in
# terraform/, offline. Terraform and the real google provider come from the
# shared offline copy next to the repository (../shared/terraform-provider,
# or QUERYGATE_TERRAFORM_PROVIDER_DIR), unpacked by its install.sh into a
# cache outside the repository. Without that copy it fails when CI=true and
# skips with a message otherwise. On success TERRAFORM_BIN_DIR holds the
# directory of the terraform binary.
terraform_checks() {
  local shared="${QUERYGATE_TERRAFORM_PROVIDER_DIR:-$REPO_ROOT/../shared/terraform-provider}"
  if [ ! -x "$shared/install.sh" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "querygate: $shared/install.sh is missing: CI needs the offline Terraform and google provider there (or set QUERYGATE_TERRAFORM_PROVIDER_DIR)" >&2
      return 1
    fi
    echo "querygate: skipping the terraform checks: no offline Terraform and google provider at $shared (set QUERYGATE_TERRAFORM_PROVIDER_DIR)" >&2
    return 0
  fi
  command -v xz >/dev/null 2>&1 || apt_install xz-utils
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/querygate/terraform"
  local rc
  rc=$("$shared/install.sh" "$cache") || return 1
  local tf
  tf="$(dirname "$rc")/bin/terraform"
  # .terraform and the lock file stay out of the repository: the data dir
  # lives in the cache (one per checkout, so that two checkouts do not
  # share it), and the lock file (hashes of the mirror's builds) is
  # gitignored.
  local data
  data="$cache/data-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
  (
    cd "$REPO_ROOT/terraform"
    export TF_CLI_CONFIG_FILE="$rc" TF_DATA_DIR="$data" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
    echo "querygate: terraform init -backend=false" >&2
    # Each command checks its own status: set -e does not apply inside a
    # subshell whose status is tested.
    "$tf" init -backend=false -input=false -no-color >/dev/null || exit 1
    echo "querygate: terraform validate" >&2
    "$tf" validate -no-color || exit 1
    echo "querygate: terraform test (required variables only)" >&2
    "$tf" test -no-color -filter=tests/plan.tftest.hcl || exit 1
    for f in examples/dev.tfvars examples/prod.tfvars; do
      echo "querygate: terraform test with $f" >&2
      "$tf" test -no-color -filter=tests/examples.tftest.hcl -var-file="$f" || exit 1
    done
  ) || { echo "querygate: the terraform checks failed" >&2; return 1; }
  TERRAFORM_BIN_DIR="$(dirname "$tf")"
}
