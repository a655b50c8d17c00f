#!/usr/bin/env bash
# Prints the analysis benchmarks as a table: time per statement over the
# corpus, one typical query, and the whole policy decision.
# Usage: testing/sql/bench.sh [benchtime]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CGO_ENABLED=1 CC=clang CXX=clang++
bt="${1:-3s}"
{
  go test -run '^$' -bench 'BenchmarkAnalyze' -benchtime "$bt" ./internal/sqlscan/
  go test -run '^$' -bench 'BenchmarkEvaluate' -benchtime "$bt" ./internal/policy/
} | awk '
  /^Benchmark/ {
    name=$1; ns=""; per=""; bytes=""; allocs=""
    for (i = 2; i <= NF; i++) {
      if ($(i) == "ns/op") ns=$(i-1)
      if ($(i) == "ns/stmt") per=$(i-1)
      if ($(i) == "B/op") bytes=$(i-1)
      if ($(i) == "allocs/op") allocs=$(i-1)
    }
    if (per != "") ns = per " per statement"
    printf "| %-34s | %22s | %10s | %9s |\n", name, ns, bytes, allocs
  }
  BEGIN {
    printf "| %-34s | %22s | %10s | %9s |\n", "benchmark", "ns", "B/op", "allocs/op"
    printf "|%s|%s|%s|%s|\n", "------------------------------------", "------------------------", "------------", "-----------"
  }'
