#!/usr/bin/env bash
# Runs every fuzz target in the tree (each `func Fuzz...` in a _test.go
# file), one at a time, for a short bounded time: go test -fuzz takes one
# target per package run. A target that fails stops nothing else; at the end
# the script lists the failures and exits 1. The failing input is what
# `go test -fuzz` writes to <package>/testdata/fuzz/<Target>/; the script
# prints those new files, so a CI log shows the crasher, and a local run
# leaves it in the tree, where plain `go test` replays it from then on.
#
#   scripts/fuzz.sh                  every target, QUERYGATE_FUZZTIME each (3s)
#   scripts/fuzz.sh FuzzPaginate     only the targets named
#
# Targets whose test binary links ZetaSQL (sqlscan, policy) replay their
# seeds and testdata corpus only, unless QUERYGATE_FUZZ_ZETASQL=1: fuzzing
# instruments every package of the binary, which recompiles ZetaSQL's C++
# (as long as the first build); a job that keeps its Go cache can afford it
# once.
source "$(dirname "$0")/lib.sh"
need_go

FUZZTIME="${QUERYGATE_FUZZTIME:-3s}"
# Bounds minimizing a crasher, and the whole run of one target including
# its build, so a hang fails instead of stalling CI.
MINIMIZE="${QUERYGATE_FUZZMINIMIZE:-10s}"
TIMEOUT="${QUERYGATE_FUZZTIMEOUT:-10m}"

# One line per target: package dir, then target name.
list_targets() {
  grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' cmd functions internal testing 2>/dev/null |
    sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u
}

links_zetasql() {
  local deps
  deps="$(go list -deps -test "./$1" 2>/dev/null || true)"
  [[ "$deps" == *github.com/goccy/go-zetasql* ]]
}

# corpus_files DIR NAME lists the target's corpus files, to spot the one a
# failure adds (git is not needed, CI checkouts may lack it).
corpus_files() {
  find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort || true
}

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
declare -A zetasql_pkg=()
failed=()
ran=0
start=$SECONDS
while read -r dir name; do
  if [ "$#" -gt 0 ] && [[ " $* " != *" $name "* ]]; then
    continue
  fi
  if [ -z "${zetasql_pkg[$dir]+x}" ]; then
    if links_zetasql "$dir"; then zetasql_pkg[$dir]=1; else zetasql_pkg[$dir]=0; fi
  fi
  before="$(corpus_files "$dir" "$name")"
  t0=$SECONDS
  if [ "${zetasql_pkg[$dir]}" = 1 ] && [ "${QUERYGATE_FUZZ_ZETASQL:-0}" != 1 ]; then
    mode="seeds"
    args=(-run "^${name}\$")
  else
    mode="fuzz ${FUZZTIME}"
    args=(-run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE")
  fi
  if go test -count=1 -timeout "$TIMEOUT" "${args[@]}" "./$dir" >"$log" 2>&1; then
    echo "querygate: fuzz ok   $dir $name ($mode, $((SECONDS - t0))s)" >&2
  else
    echo "querygate: fuzz FAIL $dir $name ($mode, $((SECONDS - t0))s)" >&2
    tail -n 40 "$log" >&2
    after="$(corpus_files "$dir" "$name")"
    while read -r f; do
      [ -n "$f" ] || continue
      echo "querygate: crasher kept in $f:" >&2
      head -c 4096 "$f" >&2
      echo >&2
    done < <(comm -13 <(echo "$before") <(echo "$after"))
    failed+=("$dir $name")
  fi
  ran=$((ran + 1))
done < <(list_targets)

echo "querygate: $ran fuzz targets in $((SECONDS - start))s" >&2
if [ "$ran" = 0 ]; then
  echo "querygate: no fuzz target matched $*" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'querygate: fuzz target failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
