#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzX(f *testing.F)` in a _test.go file) for
# FUZZTIME each, one after the other (two cores: never two fuzzers at once). A target that finds a
# failure stops the run; its input is kept under the package's testdata/fuzz for a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-30s}"
GO="${GO:-go}"
targets=$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)
[ -n "$targets" ] || { echo "no fuzz targets found" >&2; exit 1; }
n=0
for file in $targets; do
  pkg="./$(dirname "${file#./}")"
  for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "== $name ($pkg, $FUZZTIME)"
    "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"
    n=$((n + 1))
  done
done
echo "fuzzed $n targets for $FUZZTIME each"
