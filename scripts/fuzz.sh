#!/usr/bin/env bash
# Runs every fuzz target in the tree (each `func Fuzz...` in a _test.go
# file) for a short bounded time, one target at a time: a fuzzing run takes
# one target. Each package's instrumented test binary is built once and run
# per target. A target that fails stops nothing else; at the end the script
# lists the failures and exits 1. The failing input is written, as by
# `go test -fuzz`, to <package>/testdata/fuzz/<Target>/; the script prints
# that file, so a CI log shows the crasher, and a local run leaves it in the
# tree, where plain `go test` replays it from then on.
#
#   scripts/fuzz.sh                  every target, QUERYGATE_FUZZTIME each (3s)
#   scripts/fuzz.sh FuzzPaginate     only the targets named
#
# Fuzzing instruments every package of the test binary, and that changes
# each package's build ID, so a fuzz binary that linked ZetaSQL would
# recompile its C++ (as long as the first build, ~20 min on two cores).
# The analyzer and policy targets therefore live in testing/zetafuzz, whose
# test binary does not link ZetaSQL: each input goes to a worker process
# built normally (from the regular build's cache), built here once. A
# target whose binary still links ZetaSQL replays its seeds and testdata
# corpus only, unless QUERYGATE_FUZZ_ZETASQL=1.
source "$(dirname "$0")/lib.sh"
need_go

FUZZTIME="${QUERYGATE_FUZZTIME:-3s}"
# Bound minimizing a crasher, and each test binary's run, so a hang fails
# instead of stalling CI.
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

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log="$work/log"
failed=()
ran=0
start=$SECONDS

# fail DIR NAME MODE SECONDS reports a failed target and prints the corpus
# file its run added (the crasher), given the listing taken before.
fail() {
  echo "querygate: fuzz FAIL $1 $2 ($3, $4s)" >&2
  tail -n 40 "$log" >&2
  while read -r f; do
    [ -n "$f" ] || continue
    echo "querygate: crasher kept in $f:" >&2
    head -c 4096 "$f" >&2
    echo >&2
  done < <(comm -13 <(echo "$before") <(corpus_files "$1" "$2"))
  failed+=("$1 $2")
}

# Targets are grouped by package: one instrumented test binary per package
# (go test -c -fuzz), run once per target from the package directory, so
# that testdata/fuzz resolves there and a crasher lands there, as with
# go test -fuzz.
declare -A targets=()
dirs=()
while read -r dir name; do
  if [ "$#" -gt 0 ] && [[ " $* " != *" $name "* ]]; then
    continue
  fi
  [ -n "${targets[$dir]+x}" ] || dirs+=("$dir")
  targets[$dir]="${targets[$dir]:-} $name"
done < <(list_targets)

# The zetafuzz worker: one normal build (a link, from the cache), shared by
# every fuzz process of the four targets.
for dir in "${dirs[@]}"; do
  if [ "$dir" = testing/zetafuzz ]; then
    t0=$SECONDS
    export QUERYGATE_ZETAFUZZ_WORKER="$work/zetafuzz-worker"
    if ! go build -o "$QUERYGATE_ZETAFUZZ_WORKER" ./testing/zetafuzz/worker >"$log" 2>&1; then
      cat "$log" >&2
      echo "querygate: fuzz FAIL building the zetafuzz worker" >&2
      exit 1
    fi
    echo "querygate: fuzz built the zetafuzz worker ($((SECONDS - t0))s)" >&2
  fi
done

for dir in "${dirs[@]}"; do
  read -r -a names <<<"${targets[$dir]}"
  if links_zetasql "$dir" && [ "${QUERYGATE_FUZZ_ZETASQL:-0}" != 1 ]; then
    t0=$SECONDS
    before=""
    re="^($(IFS='|'; echo "${names[*]}"))\$"
    if go test -count=1 -timeout "$TIMEOUT" -run "$re" "./$dir" >"$log" 2>&1; then
      echo "querygate: fuzz ok   $dir ${names[*]} (seeds, $((SECONDS - t0))s)" >&2
    else
      for name in "${names[@]}"; do fail "$dir" "$name" seeds "$((SECONDS - t0))"; done
    fi
    ran=$((ran + ${#names[@]}))
    continue
  fi
  bin="$work/$(echo "$dir" | tr / _).test"
  t0=$SECONDS
  if ! go test -c -fuzz=. -o "$bin" "./$dir" >"$log" 2>&1; then
    before=""
    for name in "${names[@]}"; do fail "$dir" "$name" build "$((SECONDS - t0))"; done
    ran=$((ran + ${#names[@]}))
    continue
  fi
  echo "querygate: fuzz built $dir ($((SECONDS - t0))s)" >&2
  cache="$(go env GOCACHE)/fuzz/$(go list -f '{{.ImportPath}}' "./$dir")"
  for name in "${names[@]}"; do
    before="$(corpus_files "$dir" "$name")"
    t0=$SECONDS
    ok=0
    for attempt in 1 2; do
      if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$FUZZTIME" \
            -test.fuzzminimizetime="$MINIMIZE" -test.fuzzcachedir="$cache" -test.timeout="$TIMEOUT" \
            -test.paniconexit0) >"$log" 2>&1; then
        ok=1
        break
      fi
      # Go 1.26's fuzz coordinator can fail a target with "context deadline
      # exceeded" at the -fuzztime boundary under CPU contention, writing no
      # crasher (go.dev/issue/75804, fixed in Go 1.27). Only that case is
      # run once more; a run that wrote a crasher fails at once.
      if [ "$(corpus_files "$dir" "$name")" != "$before" ] || ! grep -q 'context deadline exceeded' "$log"; then
        break
      fi
      echo "querygate: fuzz $dir $name hit the fuzztime deadline race with no crasher; running it once more" >&2
    done
    if [ "$ok" = 1 ]; then
      echo "querygate: fuzz ok   $dir $name (fuzz $FUZZTIME, $((SECONDS - t0))s)" >&2
    else
      fail "$dir" "$name" "fuzz $FUZZTIME" "$((SECONDS - t0))"
    fi
    ran=$((ran + 1))
  done
done

echo "querygate: $ran fuzz targets in $((SECONDS - start))s" >&2
if [ "$ran" = 0 ]; then
  echo "querygate: no fuzz target matched $*" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'querygate: fuzz target failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
