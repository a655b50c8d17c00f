#!/usr/bin/env bash
# Runs every hermetic test: unit tests, the store conformance suite on
# SQLite and on the Firestore emulator, the BigQuery emulator tests, the
# real workflow YAML through the local runtime, SMTP and headless-Chromium
# approval tests, and the end-to-end gateway tests (Google's Go and Node
# BigQuery clients among them). It installs clang, chromium and the npm
# packages of the Firestore emulator and the Node client when missing.
source "$(dirname "$0")/lib.sh"
need_go
need_clang
command -v chromium >/dev/null 2>&1 || apt_install chromium
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
if [ ! -d testing/firestore-emulator/node_modules ]; then
  echo "querygate: installing the Firestore emulator (npm ci)" >&2
  (cd testing/firestore-emulator && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d testing/bqnode/node_modules ]; then
  echo "querygate: installing the Node BigQuery client for the front-door tests (npm ci)" >&2
  (cd testing/bqnode && npm ci --no-audit --no-fund --loglevel=error)
fi
export QUERYGATE_REQUIRE_EMULATORS=1

# --- terraform: init, validate and terraform test, offline (terraform_checks
# in lib.sh). Fails the run when terraform fails. testing/terraform's fmt
# check then finds the same terraform on PATH.
TERRAFORM_BIN_DIR=""
terraform_checks
if [ -n "$TERRAFORM_BIN_DIR" ]; then
  export PATH="$TERRAFORM_BIN_DIR:$PATH"
fi
# --- end terraform

if [ ! -f "$(go env GOCACHE)/.querygate-zetasql-built" ]; then
  # Compile ZetaSQL once, with a heartbeat, before the test binaries need it.
  build_with_progress /dev/null ./cmd/querygate
fi
go vet ./...
go test -count=1 -timeout 40m "$@" ./...

# --- fuzz (issue 16) ---------------------------------------------------------
# Every fuzz target, one at a time, for QUERYGATE_FUZZTIME (3s) each; a
# crasher fails the run and is kept under its package's testdata/fuzz/.
# QUERYGATE_SKIP_FUZZ=1 leaves it out (e.g. when passing a -run filter).
if [ "${QUERYGATE_SKIP_FUZZ:-0}" != 1 ]; then
  "$REPO_ROOT/scripts/fuzz.sh"
fi
# --- end fuzz ----------------------------------------------------------------
