#!/bin/bash
# 12-make-incremental — a second `make` compiles nothing: `make demo`
# (tests/demo.sh runs `make -j2`) and `make check` must not rebuild smolc or
# the unit tests on every run. Checked on a snapshot of the tree (sources,
# Makefile, VERSION and build/ copied with their mtimes), so the checkout
# under test is never written: make brings the copy up to date (nothing to
# do when the checkout was just built), then `make -q` must say so and a
# second make must print no command.
# sanitizer pass: not run (no smolc code runs here)
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
# run from `make test`, make's variables would make the inner makes print
# "Entering directory" lines (and pass on -j/-s): a make of its own here
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
command -v make >/dev/null || skip "make not installed (tests/deps.sh)"
[ -d "$ROOT/build/obj" ] || skip "$ROOT has not been built (run make first)"

snap=$TEST_TMP/tree
mkdir -p "$snap"
(cd "$ROOT" && cp -a --parents Makefile VERSION grammar common compiler runtime oci cli tests/unit "$snap"/) ||
	fail "cannot copy the sources"
mkdir -p "$snap/build"
for d in obj gen tests libsmolc.a libsmolc-front.a; do
	[ -e "$ROOT/build/$d" ] && cp -a "$ROOT/build/$d" "$snap/build/"
done
for f in smolc libsmolc-backend.so; do [ -e "$ROOT/$f" ] && cp -a "$ROOT/$f" "$snap/"; done

cd "$snap" || exit 1
make -s -j2 smolc unit >make1.log 2>&1 || { cat make1.log; fail "make smolc unit failed in the snapshot"; }
for t in all smolc unit; do
	make -q "$t" || fail "make -q $t: '$t' is out of date right after make ($(make -n "$t" 2>&1 | head -5))"
	out=$(make -n "$t" 2>&1 | grep -v "^make\(\[[0-9]*\]\)\?: \(Nothing to be done for\|'.*' is up to date\|Entering directory\|Leaving directory\)")
	[ -z "$out" ] || fail "a second make $t would run: $out"
done
echo ok
