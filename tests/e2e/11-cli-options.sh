#!/bin/bash
# 11-cli-options: every command parses its options with one framework
# (cli/opt.c): --help and `smolc help CMD` print the usage made from the
# command's table (exit 0); an unknown option, an option the command does
# not take, a missing value or a second Smolfile is bad usage (exit 2) with
# one line naming it and where to read more. --build-arg is parsed the same
# way everywhere (a bare NAME takes its value from the environment), and a
# pinned set whose bytes changed is exit 1 from plan, build and lock alike.
set -eu
. "$ROOT/tests/lib/common.sh"

printf 'FROM scratch\nSERVICE cli\n' >Smolfile
for cmd in check plan lock build; do
	run "$SMOLC" "$cmd" --help
	expect_rc 0 "$cmd --help"
	assert_match "$OUT" "^usage: smolc $cmd " "$cmd --help: usage line"
	run "$SMOLC" "$cmd" --bogus
	expect_rc 2 "$cmd --bogus"
	assert_contains "$OUT" "smolc: $cmd: unknown option '--bogus'" "$cmd --bogus: message"
	assert_contains "$OUT" "Run 'smolc help $cmd' for its options." "$cmd --bogus: pointer to help"
	run "$SMOLC" "$cmd" Smolfile Other
	expect_rc 2 "$cmd with two Smolfiles"
	assert_contains "$OUT" "smolc: $cmd: takes one Smolfile, got also 'Other'" "$cmd with two Smolfiles: message"
	run "$SMOLC" "$cmd" --build-arg
	expect_rc 2 "$cmd --build-arg without a value"
	assert_contains "$OUT" "smolc: $cmd: option '--build-arg' needs a value (NAME[=VALUE])" "$cmd --build-arg: message"
done
# options a command does not take
run "$SMOLC" check --json
expect_rc 2 "check --json"
assert_contains "$OUT" "smolc: check: unknown option '--json'" "check --json"
run "$SMOLC" lock --json
expect_rc 2 "lock --json"
run "$SMOLC" plan --offline
expect_rc 2 "plan --offline"
# and the ones they do
run "$SMOLC" check --build-arg X=1
expect_rc 0 "check --build-arg"
run "$SMOLC" plan --json --cache-dir "$TEST_TMP/c" --mirror http://127.0.0.1:9/
expect_rc 0 "plan --json --cache-dir --mirror"
run "$SMOLC" plan --json=yes
expect_rc 2 "a flag given a value"
assert_contains "$OUT" "smolc: plan: option '--json' takes no value" "plan --json=yes"

# every command's help comes from its table, by --help and by `smolc help`
for cmd in check plan build lock cache run ps stop logs wait; do
	run "$SMOLC" help "$cmd"
	expect_rc 0 "smolc help $cmd"
	assert_match "$OUT" "^usage: smolc $cmd " "smolc help $cmd: usage line"
	assert_contains "$OUT" "  -h, --help                this help" "smolc help $cmd: the table's help line"
	help=$OUT
	run "$SMOLC" "$cmd" --help
	assert_eq "$help" "$OUT" "$cmd --help is smolc help $cmd"
done
run "$SMOLC" help build
assert_contains "$OUT" "  -o, --output DIR          output directory (default: images)" "build help: -o"
run "$SMOLC" run --bogus svc
expect_rc 2 "run --bogus"
assert_contains "$OUT" "smolc: run: unknown option '--bogus'" "run --bogus: message"
run "$SMOLC" stop
expect_rc 2 "stop without NAME"
assert_contains "$OUT" "smolc: stop: missing instance NAME" "stop without NAME"
run "$SMOLC" ps --port 80
expect_rc 2 "ps does not take --port"
run "$SMOLC" logs a b
expect_rc 2 "logs with two names"
assert_contains "$OUT" "smolc: logs: takes one NAME, got also 'b'" "logs a b"

# the version is VERSION's, and every object depends on VERSION (a bump
# rebuilds them, so --version is never stale)
run "$SMOLC" --version
assert_eq "smolc $(cat "$ROOT/VERSION")" "$OUT" "smolc --version"
plan_make=$(make -s -n -C "$ROOT" -W VERSION smolc 2>&1)
assert_contains "$plan_make" "cli/main.c" "make after a VERSION bump recompiles cli/main.c"
assert_contains "$plan_make" "compiler/fetch.c" "make after a VERSION bump recompiles compiler/fetch.c (user agent)"

# --build-arg NAME without '=': the value comes from the environment, in
# every command that reads a recipe (Docker's behaviour); unset is exit 2.
export SMOLC_CACHE="$TEST_TMP/cache"
echo kernel >kern
printf 'ARG NAME=dflt\nFROM scratch\nKERNEL ./kern\nSERVICE ${NAME}\n' >Smolfile
unset NAME || true
for cmd in check plan build lock run; do
	run "$SMOLC" "$cmd" --build-arg NAME
	expect_rc 2 "$cmd --build-arg NAME with NAME unset"
	assert_contains "$OUT" "smolc: $cmd: --build-arg NAME: NAME is not set in the environment; give --build-arg NAME=VALUE" \
		"$cmd --build-arg NAME unset: message"
	run "$SMOLC" "$cmd" --build-arg =x
	expect_rc 2 "$cmd --build-arg =x"
	assert_contains "$OUT" "smolc: $cmd: --build-arg takes NAME=VALUE or NAME, not '=x'" "$cmd --build-arg =x: message"
done
run env NAME=fromenv "$SMOLC" check --build-arg NAME
expect_rc 0 "check --build-arg NAME"
assert_contains "$OUT" "Smolfile: ok (4 instructions, service fromenv)" "check: NAME from the environment"
run env NAME= "$SMOLC" check --build-arg NAME=given
expect_rc 0 "check --build-arg NAME=given"
assert_contains "$OUT" "service given" "check: NAME=VALUE wins over the environment"
run env NAME=fromenv "$SMOLC" plan --build-arg NAME
expect_rc 0 "plan --build-arg NAME"
assert_match "$OUT" "^  service  fromenv$" "plan: NAME from the environment"
run env NAME=fromenv "$SMOLC" build -q --build-arg NAME
expect_rc 0 "build --build-arg NAME"
assert_file images/fromenv-amd64.img
run env NAME=fromenv "$SMOLC" lock --build-arg NAME
expect_rc 0 "lock --build-arg NAME"
run env NAME=envrun "$SMOLC" run --dry-run --accel tcg --build-arg NAME
expect_rc 1 "run --dry-run --build-arg NAME (never builds)"
[ ! -e images/envrun-amd64.img ] || fail "run --dry-run built images/envrun-amd64.img"
run env NAME=envrun SMOLC_QEMU=/bin/true "$SMOLC" run --accel tcg --build-arg NAME
expect_rc 0 "run --build-arg NAME (builds the Smolfile first)"
assert_file images/envrun-amd64.img
run env NAME=envrun "$SMOLC" run --dry-run --accel tcg --build-arg NAME
expect_rc 0 "run --dry-run --build-arg NAME once built"
assert_contains "$OUT" "file=$PWD/images/envrun-amd64.img" "run: built with NAME from the environment"

# a pinned local set whose bytes do not match: exit 1 from plan, build and
# lock (a failed input, not a bad recipe: SPEC.md §7)
echo "not the pinned bytes" >local.tar.xz
printf 'FROM scratch\nKERNEL ./kern\nSETS ./local.tar.xz sha256:%064d\nSERVICE pin\n' 0 >Smolfile
for cmd in plan build lock; do
	run "$SMOLC" "$cmd"
	expect_rc 1 "$cmd with a pinned set that does not match"
	assert_contains "$OUT" "error: set file './local.tar.xz' does not match its pinned digest" "$cmd: digest message"
done
# smolc lock on a recipe with no remote inputs: says so, writes nothing
mkdir -p "$TEST_TMP/nolock" && cd "$TEST_TMP/nolock"
head -c 1000 /dev/urandom >kern
printf 'FROM scratch\nKERNEL ./kern\nSERVICE nolock\n' >Smolfile
run "$SMOLC" lock
expect_rc 0 "lock with no remote inputs"
assert_contains "$OUT" "smolc: the recipe has no remote inputs (every input is a file of the build context, already part of the cache keys): nothing to pin, Smolfile.lock not written" "message"
assert_no_file Smolfile.lock
echo ok
