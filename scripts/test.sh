#!/usr/bin/env bash
# Runs every hermetic test: unit tests, the store conformance suite on
# SQLite and on the Firestore emulator, the BigQuery emulator tests, the
# real workflow YAML through the local runtime, SMTP and headless-Chromium
# approval tests, and the end-to-end gateway tests. It installs clang,
# chromium and the Firestore emulator's npm packages when missing.
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
export QUERYGATE_REQUIRE_EMULATORS=1
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
