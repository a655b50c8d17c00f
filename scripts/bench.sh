#!/usr/bin/env bash
# Prints a table of querygate's speed on this machine: SQL analysis per
# statement, the policy decision, and one allowed query end to end through
# the local gateway, with analysis's share of the end-to-end time, the
# gateway against a direct query in one run with where the session's time
# goes, and the demo join (issue 13). Each
# figure comes from `go test -bench`; nothing here asserts a time.
# De-identification has its own table: scripts/bench-deid.sh.
source "$(dirname "$0")/lib.sh"
need_go
need_clang
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "querygate: running benchmarks (the first run compiles ZetaSQL, ~15 minutes)..." >&2
# One failing benchmark leaves its row out and says so; the others still run.
bench() {
  local pkg="$1"; shift
  go test -run '^$' "$@" "$pkg" 2>/dev/null | grep '^Benchmark' >>"$out" ||
    echo "querygate: a benchmark in $pkg failed; run: go test -run '^\$' $* $pkg" >&2
}
bench ./internal/sqlscan/ -bench 'BenchmarkAnalyzeTypical|BenchmarkAnalyzeCorpus' -benchtime "${BENCHTIME:-2s}"
bench ./internal/policy/ -bench 'BenchmarkEvaluate$' -benchtime "${BENCHTIME:-2s}"
bench ./testing/e2e/ -bench 'BenchmarkQueryEndToEnd|BenchmarkOverhead' -benchtime "${E2E_BENCHTIME:-20x}"
bench ./internal/bqlocal/ -bench 'BenchmarkDemoJoin' -benchtime "${JOIN_BENCHTIME:-5x}"
awk '
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name); ns=0; per=""
  for (i=2; i<=NF; i++) {
    if ($(i+1)=="ns/op") ns=$i
    if ($(i+1)=="ns/stmt") per=$i
  }
  v[name]=ns; s[name]=per; order[++n]=name
  if (name=="BenchmarkOverhead") {
    for (i=2; i<=NF; i++) {
      if ($(i+1)=="gateway-p50-ms") og=$i
      if ($(i+1)=="direct-p50-ms") od=$i
      if ($(i+1)=="ratio") orat=$i
      if ($(i+1)=="added-p50-ms") oadd=$i
      if ($(i+1)=="timer-resolution-ns") ores=$i
      if ($(i+1) ~ /-ms$/ && $(i+1) !~ /p50/) seg[$(i+1)]=$i
    }
  }
}
END {
  printf "%-34s %16s\n", "benchmark", "time per op"
  for (i=1; i<=n; i++) {
    k=order[i]
    printf "%-34s %13.3f ms\n", k, v[k]/1e6
    if (s[k]!="") printf "%-34s %13.3f ms\n", "  per statement", s[k]/1e6
  }
  e=v["BenchmarkQueryEndToEnd"]; p=v["BenchmarkEvaluate"]
  if (e>0 && p>0) printf "\npolicy decision share of end-to-end time: %.1f%%\n", 100*p/e
  if (og!="") {
    printf "\nthe same aggregate, one run, alternating (medians):\n"
    printf "%-34s %13.1f ms\n", "through the gateway", og
    printf "%-34s %13.1f ms\n", "straight to the embedded BigQuery", od
    printf "%-34s %13.2f x\n", "ratio", orat
    printf "%-34s %13.1f ms\n", "added by the gateway", oadd
    printf "%-34s %13.0f ns\n", "timer resolution", ores
    printf "\nwhere the time of one session goes (medians, from its timeline):\n"
    split("intake-ms policy-ms to-execute-ms job-ms deidentify-ms to-record-ms audit-and-answer-ms", ks, " ")
    for (k=1; k<=7; k++) printf "%-34s %13.1f ms\n", "  " ks[k], seg[ks[k]]
  }
}' "$out"
