#!/bin/bash
# 13-man-completion — `make install` installs the manual smolc.1 (mdoc) and
# the bash completion, both generated from the commands' option tables:
#  - mandoc -Tlint finds no warning or error; man -l renders it;
#  - every option every `smolc CMD --help` lists is in the manual under that
#    command, and offered by the completion after `smolc CMD -`;
#  - the completion offers the commands, options, cache subcommands and
#    files after an option that takes a value.
# Run on a snapshot of the built tree (as e2e 12): the checkout is not written.
# sanitizer pass: not run (the manual is made by ./smolc, not smolc-asan)
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TEST_TMP=${TEST_TMP:-$(mktemp -d)}
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }
for t in make mandoc man; do
	command -v "$t" >/dev/null || skip "$t not installed (tests/deps.sh)"
done
[ -d "$ROOT/build/obj" ] || skip "$ROOT has not been built (run make first)"

snap=$TEST_TMP/tree
mkdir -p "$snap/build"
(cd "$ROOT" && cp -a --parents Makefile VERSION grammar common compiler runtime oci cli tests/unit sets services \
	"$snap"/) || fail "cannot copy the sources"
for d in obj gen libsmolc.a libsmolc-front.a; do
	[ -e "$ROOT/build/$d" ] && cp -a "$ROOT/build/$d" "$snap/build/"
done
for f in smolc libsmolc-backend.so; do [ -e "$ROOT/$f" ] && cp -a "$ROOT/$f" "$snap/"; done
inst=$TEST_TMP/inst
make -s -C "$snap" install DESTDIR="$inst" PREFIX=/usr >"$TEST_TMP/install.log" 2>&1 ||
	{ cat "$TEST_TMP/install.log"; fail "make install failed"; }
man1=$inst/usr/share/man/man1/smolc.1
comp=$inst/usr/share/bash-completion/completions/smolc
[ -x "$inst/usr/bin/smolc" ] || fail "make install: no bin/smolc"
[ -f "$man1" ] || fail "make install: no share/man/man1/smolc.1 ($(find "$inst" -type f | head))"
[ -f "$comp" ] || fail "make install: no share/bash-completion/completions/smolc"
[ -f "$inst/usr/lib/smolc/libsmolc-backend.so" ] || fail "make install: no lib/smolc/libsmolc-backend.so"
# the installed binary finds its backend (export runs in it)
out=$("$inst/usr/bin/smolc" export --help 2>&1) || fail "installed smolc export --help: $out"
grep -q "^usage: smolc export" <<<"$out" || fail "installed smolc export --help: $out"
SMOLC=$snap/smolc

echo "== the manual"
lint=$(mandoc -Tlint -W warning "$man1" 2>&1) || fail "mandoc -Tlint: $lint"
[ -z "$lint" ] || fail "mandoc -Tlint: $lint"
MANWIDTH=100 man -l "$man1" 2>/dev/null | col -b >"$TEST_TMP/man.txt" || fail "man -l failed"
grep -q "^NAME" "$TEST_TMP/man.txt" && grep -q "smolc .\{1,3\} compile a Smolfile" "$TEST_TMP/man.txt" ||
	fail "man -l: no NAME section: $(head "$TEST_TMP/man.txt")"
cmds=$("$SMOLC" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && $1 != "help" && NF { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 20 ] || fail "smolc --help lists too few commands: $cmds"
for c in $cmds; do
	# this command's part of the manual: from its heading to the next one
	awk -v h="   smolc $c" '$0 == h { on = 1; next } on && /^   smolc [a-z0-9]+$/ { exit } on' \
		"$TEST_TMP/man.txt" >"$TEST_TMP/man-$c.txt"
	[ -s "$TEST_TMP/man-$c.txt" ] || fail "the manual has no section for smolc $c"
	opts=$("$SMOLC" "$c" --help | grep -o '^ \{2,6\}\(-[A-Za-z], \)\?--[a-z0-9-]\+' | grep -o -- '--[a-z0-9-]\+')
	[ -n "$opts" ] || fail "smolc $c --help lists no options"
	for o in $opts; do
		grep -q -- "$o\b" "$TEST_TMP/man-$c.txt" || fail "smolc $c: $o is in --help but not in the manual"
	done
done
grep -q -- "--fw-var NAME=VALUE" "$TEST_TMP/man-run.txt" || fail "smolc run's -e in the manual: $(grep fw "$TEST_TMP/man-run.txt")"

echo "== the completion"
complete_words() { # words… (the last one is completed)
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _smolc smolc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"; printf "%s\n" "${COMPREPLY[@]}"' \
		complete "$comp" "$@"
}
got=$(complete_words smolc "") || fail "the completion failed"
for c in $cmds help; do
	echo "$got" | grep -qx "$c" || fail "smolc <TAB> does not offer $c: $got"
done
got=$(complete_words smolc ru)
[ "$got" = run ] || fail "smolc ru<TAB>: '$got'"
got=$(complete_words smolc run --dry)
[ "$got" = --dry-run ] || fail "smolc run --dry<TAB>: '$got'"
got=$(complete_words smolc --debug build --build)
[ "$got" = --build-arg ] || fail "smolc --debug build --build<TAB>: '$got'"
got=$(complete_words smolc help ru)
[ "$got" = run ] || fail "smolc help ru<TAB>: '$got'"
got=$(complete_words smolc cache p)
[ "$got" = prune ] || fail "smolc cache p<TAB>: '$got'"
mkdir -p "$TEST_TMP/cwd" && touch "$TEST_TMP/cwd/conf.txt"
got=$(cd "$TEST_TMP/cwd" && complete_words smolc run -E co)
[ "$got" = conf.txt ] || fail "smolc run -E co<TAB> (a file): '$got'"
for c in $cmds; do
	got=$(complete_words smolc "$c" -)
	for o in $("$SMOLC" "$c" --help | grep -o '^ \{2,6\}\(-[A-Za-z], \)\?--[a-z0-9-]\+' | grep -o -- '--[a-z0-9-]\+'); do
		echo "$got" | grep -qx -- "$o" || fail "smolc $c -<TAB> does not offer $o"
	done
done
echo ok
