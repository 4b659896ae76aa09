#!/bin/bash
# 61-pkgs-errors: PKGS that cannot be installed, against a synthetic
# repository (tests/lib/mkpkgrepo.py --all --escape-abs --sneaky):
#  - a conflict (x CONFLICTS y-[0-9]*), a missing dependency (needy ->
#    pcre2>=10.50, newest pcre2-10.42nb1; the chain is named), an unknown
#    package (with a did-you-mean), a range nothing satisfies: recipe
#    errors at file:line:col, exit 2 from build, lock and plan, no image,
#    no lock file;
#  - a package whose bytes do not match the repository's SHA512 list:
#    exit 1, the URL and both digests, nothing cached under a final name;
#  - packages that try to write outside LOCALBASE (../../etc/passwd or an
#    absolute path in +CONTENTS, or an archive entry +CONTENTS does not
#    list): exit 1, the entry and LOCALBASE named, no layer, no image.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
REPO="$TEST_TMP/repo"
"$FIXTURE" pkgrepo "$REPO" --all --escape-abs --sneaky
http_start "$REPO"
SITE="$HTTP_URL/All/"

mkdir -p svc && cd svc
fake_kernel kern 16
recipe() { # PKGS words
	cat >Smolfile <<EOF
FROM scratch
SERVICE pk
KERNEL ./kern
PKGSITE $SITE
PKGS $*
EOF
}
img=images/pk-amd64.img

# check_bad WORDS RC TEXT...: build fails with RC and every TEXT; no image
check_bad() {
	local words=$1 want=$2; shift 2
	recipe "$words"
	rm -rf images
	run "$SMOLC" build
	expect_rc "$want" "build of PKGS $words"
	local t
	for t in "$@"; do assert_contains "$OUT" "$t" "build of PKGS $words"; done
	assert_no_file "$img"
	assert_not_contains "$(built_steps "$OUT")" "PKGS" "build of PKGS $words (the PKGS step must not complete)"
}

# check_recipe_error WORDS TEXT...: exit 2 from build, lock and plan; no lock file
check_recipe_error() {
	local words=$1 t; shift
	check_bad "$words" 2 "$@"
	rm -f Smolfile.lock
	run "$SMOLC" lock
	expect_rc 2 "lock of PKGS $words"
	for t in "$@"; do assert_contains "$OUT" "$t" "lock of PKGS $words"; done
	assert_no_file Smolfile.lock
	run "$SMOLC" plan
	expect_rc 2 "plan of PKGS $words"
	for t in "$@"; do assert_contains "$OUT" "$t" "plan of PKGS $words"; done
}

# --- conflict ---
check_recipe_error "x y" \
	"Smolfile:5:1: error: x-1.0 (x) conflicts with y-2.0 (y): CONFLICTS y-[0-9]*"
# --- missing dependency: the chain from the user's word down ---
check_recipe_error "zlib needy" \
	"Smolfile:5:11: error: needy → pcre2>=10.50: no package in $SITE satisfies it; newest is pcre2-10.42nb1"
# --- a user range against a dependency's: both named, with the chain ---
check_recipe_error "nginx 'pcre2<10.42'" \
	"Smolfile:5:12: error: pcre2<10.42: no package in $SITE satisfies it together with nginx → pcre2>=10.42 (it matches pcre2-10.40)"
# --- unknown package ---
check_recipe_error "ngnix" \
	"Smolfile:5:6: error: ngnix: no package in $SITE satisfies it; there is no package named ngnix (did you mean nginx?)"
check_recipe_error "'pcre2>=11'" \
	"Smolfile:5:6: error: pcre2>=11: no package in $SITE satisfies it; newest is pcre2-10.42nb1"
assert_contains "$OUT" "hint: check the names and versions in the repository $SITE" "hint of an unresolvable PKGS"

# --- digest mismatch: exit 1, URL, expected and actual digests ---
want=$(sed -n 's/^SHA512 (corrupt-1.0.tgz) = //p' "$REPO/All/SHA512")
got=$(sha512sum "$REPO/All/corrupt-1.0.tgz" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" != "$got" ] || fail "the repository's corrupt-1.0.tgz is not corrupt"
check_bad "zlib corrupt" 1 \
	"fetch ${SITE}corrupt-1.0.tgz: sha512 mismatch: expected $want, got $got (download discarded)" \
	"hint: the package does not match the repository's SHA512 list"
# nothing under a final name in the cache: no file with the corrupt bytes
bad=$(find "$SMOLC_CACHE/downloads" -type f -name file -exec sha512sum {} + | grep -c "^$got " || true)
assert_eq 0 "$bad" "cached copies of the corrupt package"
assert_cache_sane "$SMOLC_CACHE"
# again: the same error (the corrupt file was not kept and reused)
check_bad "corrupt" 1 "sha512 mismatch: expected $want, got $got"
assert_eq 2 "$(grep -c '^GET /All/corrupt-1.0.tgz 200$' "$HTTP_LOG")" "downloads of corrupt-1.0.tgz"

# --- packages escaping LOCALBASE ---
check_bad "zlib evil" 1 \
	'evil-1.0.tgz: +CONTENTS: line 9: file "../../etc/passwd" escapes the prefix (LOCALBASE /usr/pkg); refusing to install this package'
assert_not_contains "$OUT" "installing evil-1.0" "evil-1.0 (refused before unpacking)"
check_bad "evilabs" 1 \
	'evilabs-1.0.tgz: +CONTENTS: line 9: file "/etc/shadow" escapes the prefix (LOCALBASE /usr/pkg)'
check_bad "zlib sneaky" 1 \
	'sneaky-1.0.tgz: entry "../../etc/passwd" escapes LOCALBASE /usr/pkg'
assert_contains "$OUT" "installing sneaky-1.0 under /usr/pkg" "sneaky-1.0 (caught while unpacking)"
# no layer was kept for any of them
run "$SMOLC" cache ls
expect_rc 0 "cache ls"
assert_not_contains "$OUT" "PKGS zlib evil" "cache ls after the refused packages"
assert_not_contains "$OUT" "PKGS zlib sneaky" "cache ls after the refused packages"
assert_cache_sane "$SMOLC_CACHE"
# and a good recipe still builds with the same cache
check_ok() {
	recipe "zlib"
	run "$SMOLC" build
	expect_rc 0 "build of PKGS zlib after the errors"
	assert_fsck_clean "$img"
	assert_meta "$img" /usr/pkg/bin/zlib regular 0755 0 0
	assert_not_in_image "$img" /etc/passwd
	assert_not_in_image "$img" /etc/shadow
}
check_ok

# a malformed record in pkg_summary: left out with a warning; asking for
# that package is a recipe error that says why
REPO2="$TEST_TMP/repo2"
"$FIXTURE" pkgrepo "$REPO2" --malformed
http_start "$REPO2" httpd2
SITE="$HTTP_URL/All/"
recipe "zlib"
run "$SMOLC" build
expect_rc 0 "PKGS zlib from a repository with a malformed record"
assert_contains "$OUT" "warning: ${SITE}pkg_summary: skipped a malformed record (broken-1.0): line" "the warning"
assert_contains "$OUT" "FILE_SIZE=\"12x\" is not a number" "the reason"
check_recipe_error "broken" "the repository's record of broken-1.0 is malformed (line"
echo ok
