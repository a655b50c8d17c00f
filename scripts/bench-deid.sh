#!/usr/bin/env bash
# Benchmarks the local de-identification engine against hoophq/alcatraz v0.23.0
# on the same seeded corpus, in the same run, both on all cores, both limited
# to the same six infoTypes, and prints a table of cells/s, MB/s and recall.
#
#   scripts/bench-deid.sh            # defaults: 3 rounds, 50,000 rows end to end
#   COUNT=5 ROWS=100000 scripts/bench-deid.sh
#
# Part 1 is `go test -bench` in internal/deid (20,000 rows x 7 columns, median
# of COUNT rounds). Part 2 runs the two JSON Lines filters as processes over a
# generated file (best of COUNT rounds): deid-jsonl is deid.RunCLI, the logic
# of `querygate deid`; alcatraz-jsonl is the encoding/json + alcatraz filter.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3}
ROWS=${ROWS:-50000}
BENCHTIME=${BENCHTIME:-3x}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, GOMAXPROCS default; $(go version | cut -d' ' -f3-)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

go test -run '^$' -bench 'Engine|JSONL' -benchtime "$BENCHTIME" -count "$COUNT" ./internal/deid/ >"$work/bench.txt"

# name -> median of ns/op, and the cells/s, MB/s, recall of that round.
awk '
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
  ns=""; mbs=""; cps=""; rec=""
  for (i=2; i<=NF; i++) {
    if ($i=="ns/op") ns=$(i-1); if ($i=="MB/s") mbs=$(i-1)
    if ($i=="cells/s") cps=$(i-1); if ($i=="recall") rec=$(i-1)
  }
  n[name]++; k=name SUBSEP n[name]; NS[k]=ns; MB[k]=mbs; CP[k]=cps; RC[k]=rec
}
END {
  for (name in n) {
    # sort rounds by ns/op, take the middle one
    m=n[name]; for (i=1;i<=m;i++) idx[i]=i
    for (i=1;i<=m;i++) for (j=i+1;j<=m;j++) if (NS[name SUBSEP idx[j]]+0 < NS[name SUBSEP idx[i]]+0) { t=idx[i]; idx[i]=idx[j]; idx[j]=t }
    k=name SUBSEP idx[int((m+1)/2)]
    printf "%s %s %s %s %s\n", name, NS[k], CP[k], MB[k], RC[k]
  }
}' "$work/bench.txt" | sort >"$work/median.txt"

get() { awk -v n="$1" -v f="$2" '$1==n {print $f}' "$work/median.txt"; }

echo
echo "## In process, go test -bench (20,000 rows x 7 columns = 140,000 cells; median of $COUNT rounds)"
echo
printf "| %-18s | %12s | %9s | %8s | %10s |\n" "engine" "cells/s" "MB/s" "recall" "ms/table"
printf "|%s|%s|%s|%s|%s|\n" "--------------------" "--------------" "-----------" "----------" "------------"
for e in local alcatraz; do
  printf "| %-18s | %12.0f | %9.2f | %8.4f | %10.1f |\n" "Engine/$e" "$(get Engine/$e 3)" "$(get Engine/$e 4)" "$(get Engine/$e 5)" "$(awk "BEGIN{print $(get Engine/$e 2)/1e6}")"
done
for e in local alcatraz; do
  printf "| %-18s | %12.0f | %9.2f | %8.4f | %10.1f |\n" "JSONL/$e" "$(get JSONL/$e 3)" "$(get JSONL/$e 4)" "$(get JSONL/$e 5)" "$(awk "BEGIN{print $(get JSONL/$e 2)/1e6}")"
done
echo
echo "speed ratio, engine in process: $(awk "BEGIN{printf \"%.1fx\", $(get Engine/local 3)/$(get Engine/alcatraz 3)}") (target >= 20x)"
echo "speed ratio, JSON Lines in process: $(awk "BEGIN{printf \"%.1fx\", $(get JSONL/local 3)/$(get JSONL/alcatraz 3)}") (target >= 3x)"

# Part 2: processes, end to end.
go build -o "$work/deid-jsonl" ./internal/deid/cmd/deid-jsonl
go build -o "$work/alcatraz-jsonl" ./internal/deid/cmd/alcatraz-jsonl
go build -o "$work/deid-corpus" ./internal/deid/cmd/deid-corpus
"$work/deid-corpus" -rows "$ROWS" -seed 1 >"$work/in.jsonl"
bytes=$(stat -c %s "$work/in.jsonl")
cells=$((ROWS * 7))

best() { # best wall seconds of COUNT runs of: $1 < in.jsonl > $2
  local b=""
  for _ in $(seq "$COUNT"); do
    local s e
    s=$(date +%s.%N)
    "$1" <"$work/in.jsonl" >"$2"
    e=$(date +%s.%N)
    b=$(awk -v b="$b" -v d="$(awk "BEGIN{print $e-$s}")" 'BEGIN{ if (b=="" || d<b) print d; else print b }')
  done
  echo "$b"
}
t_local=$(best "$work/deid-jsonl" "$work/out-local.jsonl")
t_alc=$(best "$work/alcatraz-jsonl" "$work/out-alcatraz.jsonl")
r_local=$("$work/deid-corpus" -rows "$ROWS" -seed 1 -recall "$work/out-local.jsonl" | cut -d' ' -f3)
r_alc=$("$work/deid-corpus" -rows "$ROWS" -seed 1 -recall "$work/out-alcatraz.jsonl" | cut -d' ' -f3)

echo
echo "## End to end, JSON Lines process stdin -> stdout ($ROWS rows, $cells cells, $((bytes / 1024)) KiB; best of $COUNT)"
echo
printf "| %-18s | %12s | %9s | %8s | %10s |\n" "filter" "cells/s" "MB/s" "recall" "seconds"
printf "|%s|%s|%s|%s|%s|\n" "--------------------" "--------------" "-----------" "----------" "------------"
printf "| %-18s | %12.0f | %9.2f | %8.4f | %10.3f |\n" "deid-jsonl" "$(awk "BEGIN{print $cells/$t_local}")" "$(awk "BEGIN{print $bytes/1e6/$t_local}")" "$r_local" "$t_local"
printf "| %-18s | %12.0f | %9.2f | %8.4f | %10.3f |\n" "alcatraz-jsonl" "$(awk "BEGIN{print $cells/$t_alc}")" "$(awk "BEGIN{print $bytes/1e6/$t_alc}")" "$r_alc" "$t_alc"
echo
echo "speed ratio, end to end: $(awk "BEGIN{printf \"%.1fx\", $t_alc/$t_local}") (target >= 3x)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
