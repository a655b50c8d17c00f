#!/usr/bin/env bash
# Runs the querygate gateway locally: embedded BigQuery with the demo
# dataset, SQLite sessions, the Workflows runtime, local de-identification,
# a dev OIDC issuer and an SMTP sink. Flags are passed to `querygate dev`
# (e.g. --addr, --data-dir, --policy, --data FILE).
source "$(dirname "$0")/lib.sh"
need_go
need_clang
mkdir -p bin
build_with_progress bin/querygate ./cmd/querygate
exec bin/querygate dev "$@"
