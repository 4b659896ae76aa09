#!/bin/bash
# 11-cli-options: check, plan and lock share one option parser: --help
# prints the command's usage (exit 0); an unknown option, an option the
# command does not take, a missing value or a second Smolfile is bad usage
# (exit 2) with one line naming it and where to read more.
set -eu
. "$ROOT/tests/lib/common.sh"

printf 'FROM scratch\nSERVICE cli\n' >Smolfile
for cmd in check plan lock; do
	run "$SMOLC" "$cmd" --help
	expect_rc 0 "$cmd --help"
	assert_match "$OUT" "^usage: smolc $cmd " "$cmd --help: usage line"
	run "$SMOLC" "$cmd" --bogus
	expect_rc 2 "$cmd --bogus"
	assert_contains "$OUT" "smolc: $cmd: unknown option or missing value: '--bogus'" "$cmd --bogus: message"
	assert_contains "$OUT" "Run 'smolc help $cmd' for its options." "$cmd --bogus: pointer to help"
	run "$SMOLC" "$cmd" Smolfile Other
	expect_rc 2 "$cmd with two Smolfiles"
	assert_contains "$OUT" "smolc: $cmd: takes one Smolfile, got also 'Other'" "$cmd with two Smolfiles: message"
	run "$SMOLC" "$cmd" --build-arg
	expect_rc 2 "$cmd --build-arg without a value"
	assert_contains "$OUT" "smolc: $cmd: unknown option or missing value: '--build-arg'" "$cmd --build-arg: message"
done
# options a command does not take
run "$SMOLC" check --json
expect_rc 2 "check --json"
assert_contains "$OUT" "smolc: check: unknown option or missing value: '--json'" "check --json"
run "$SMOLC" lock --json
expect_rc 2 "lock --json"
run "$SMOLC" plan --offline
expect_rc 2 "plan --offline"
# and the ones they do
run "$SMOLC" check --build-arg X=1
expect_rc 0 "check --build-arg"
run "$SMOLC" plan --json --cache-dir "$TEST_TMP/c" --mirror http://127.0.0.1:9/
expect_rc 0 "plan --json --cache-dir --mirror"
echo ok
