#!/bin/bash
# tests/plan/regen.sh — rewrite every tests/plan/*.out from the current
# smolc (as tests/run.sh runs it: from this directory, empty cache). Run it
# after an intended change to the plan format, to a fixture, or to
# services/common (its files are inputs of the `gen` step), then review
# the diff: git diff tests/plan
set -eu
cd "$(dirname "$0")"
SMOLC=${SMOLC:-../../smolc}
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
for f in *.smol; do
	SMOLC_COLOR=never SMOLC_CACHE="$cache/empty-cache" "$SMOLC" plan "$f" >"${f%.smol}.out"
done
