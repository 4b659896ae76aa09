#!/bin/bash
# 62-pkgs-lock: Smolfile.lock with PKGS, against a synthetic NetBSD mirror
# and pkgsrc repository (tests/lib/mkpkgrepo.py) on 127.0.0.1:
#  - `smolc lock` pins the set, every package (dependencies too) and the
#    kernel, with versions and digests, downloading only indexes (and the
#    unpinned kernel) — no set, no package;
#  - after newer packages appear in the repository, a build with the lock
#    still installs the locked versions (all CACHED), while `smolc plan`
#    without the lock would pick the new ones;
#  - `smolc build --update-lock` moves to the new versions and rewrites
#    the lock;
#  - a package rebuilt in the repository (same name, other bytes) no longer
#    matches its pin: exit 1 naming the URL, both digests and the fix;
#    `smolc lock --update-lock` pins the new bytes and the build works.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
mkrepo() { "$FIXTURE" pkgrepo "$M/pkg" "$@"; }
mkrepo
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"
SITE="$HTTP_URL/pkg/All/"
SETS_URL="$HTTP_URL/$SETS_REL"
sha512() { sed -n "s/^SHA512 ($1) = //p" "$2"; }

mkdir -p svc && cd svc
cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE web
SETS etc
KERNEL $HTTP_URL/$KERNEL_REL
PKGSITE $SITE
PKGS nginx
EOF
img=images/web-amd64.img
T=$'\t'

# --- smolc lock ---
run "$SMOLC" lock
expect_rc 0 "smolc lock"
assert_contains "$OUT" "wrote Smolfile.lock: 6 remote inputs pinned" "smolc lock summary"
assert_file Smolfile.lock
L=$(cat Smolfile.lock)
assert_eq "smolc-lock 1" "$(grep -v '^#' Smolfile.lock | head -1)" "lock header"
assert_contains "$L" "SETS etc${T}set etc${T}$SETS_URL/etc.tar.xz${T}sha512:$(sha512 etc.tar.xz "$M/$SETS_REL/SHA512")" "lock: the etc set"
for p in nginx-1.25.3nb2 pcre2-10.42nb1 openssl-3.1.4 zlib-1.3.1; do
	dep=" (dependency)"; [ "$p" = nginx-1.25.3nb2 ] && dep=""
	assert_contains "$L" "PKGS nginx${T}pkg $p$dep${T}$SITE$p.tgz${T}sha512:$(sha512 "$p.tgz" "$M/pkg/All/SHA512")" "lock: $p"
done
assert_contains "$L" "KERNEL${T}kernel${T}$HTTP_URL/$KERNEL_REL${T}sha256:$KERNEL_SHA256" "lock: the kernel"
assert_eq 7 "$(grep -vc '^#' Smolfile.lock)" "lock: header and records"
grep -q '\.tgz \|etc\.tar\.xz ' "$HTTP_LOG" && fail "smolc lock downloaded a package or a set: $(cat "$HTTP_LOG")"
cp Smolfile.lock "$TEST_TMP/lock1"

# --- build with the lock ---
run "$SMOLC" build
expect_rc 0 "build with the lock"
assert_contains "$OUT" "installing nginx-1.25.3nb2 under /usr/pkg" "build with the lock"
assert_in_image "$img" /usr/pkg/pkgdb/nginx-1.25.3nb2/+CONTENTS
assert_in_image "$img" /usr/pkg/pkgdb/pcre2-10.42nb1/+CONTENTS
assert_fsck_clean "$img"
assert_same_file "$TEST_TMP/lock1" Smolfile.lock "the lock after a build"
cp "$img" "$TEST_TMP/locked.img"

# --- newer packages in the repository: the lock still wins ---
sleep 1   # a new mtime for the regenerated indexes (ETag)
mkrepo --newer
[ -f "$M/pkg/All/nginx-1.26.0.tgz" ] || fail "mkpkgrepo --newer made no nginx-1.26.0"
n=$(http_count)
run "$SMOLC" build
expect_rc 0 "build with the lock after newer packages appeared"
total=$(step_total "$OUT")
assert_eq "$total" "$(cached_count "$OUT")" "CACHED steps with the lock"
assert_same_file "$TEST_TMP/locked.img" "$img" "image built with the lock"
tail -n +"$((n + 1))" "$HTTP_LOG" | grep -q 'pkg_summary\|\.tgz' &&
	fail "a locked build looked at the repository: $(tail -n +"$((n + 1))" "$HTTP_LOG")"
assert_same_file "$TEST_TMP/lock1" Smolfile.lock "the lock after a locked build"
# without the lock, the plan (cached catalogue, after a revalidation) would move
cp Smolfile nolock.smol
run "$SMOLC" lock nolock.smol
expect_rc 0 "smolc lock of a copy of the recipe"
assert_contains "$(cat nolock.smol.lock)" "pkg nginx-1.26.0${T}" "a fresh lock takes the newer nginx"
rm -f nolock.smol nolock.smol.lock

# --- build --update-lock: moves to the new versions ---
run "$SMOLC" build --update-lock
expect_rc 0 "build --update-lock"
assert_contains "$OUT" "wrote Smolfile.lock" "build --update-lock"
assert_contains "$OUT" "installing nginx-1.26.0 under /usr/pkg" "build --update-lock installs the new nginx"
assert_contains "$OUT" "installing pcre2-10.44 under /usr/pkg" "build --update-lock installs the new pcre2"
L=$(cat Smolfile.lock)
assert_contains "$L" "PKGS nginx${T}pkg nginx-1.26.0${T}${SITE}nginx-1.26.0.tgz${T}sha512:$(sha512 nginx-1.26.0.tgz "$M/pkg/All/SHA512")" "updated lock: nginx"
assert_contains "$L" "PKGS nginx${T}pkg pcre2-10.44 (dependency)${T}" "updated lock: pcre2"
assert_not_contains "$L" "nginx-1.25.3nb2" "updated lock"
assert_in_image "$img" /usr/pkg/pkgdb/nginx-1.26.0/+CONTENTS
assert_not_in_image "$img" /usr/pkg/pkgdb/nginx-1.25.3nb2
assert_eq "nginx-1.26.0" "$(dbg_cat "$img" /usr/pkg/pkgdb/pcre2-10.44/+REQUIRED_BY)" "pcre2-10.44/+REQUIRED_BY"
assert_fsck_clean "$img"
# the old lock again: back to the old image, from the cache
cp "$TEST_TMP/lock1" Smolfile.lock
run "$SMOLC" build
expect_rc 0 "build with the old lock restored"
assert_same_file "$TEST_TMP/locked.img" "$img" "image with the old lock restored"

# --- a pinned package rebuilt in the repository ---
sleep 1
mkrepo --newer --rebuilt
old=$(printf '%s\n' "$(cat "$TEST_TMP/lock1")" | sed -n "s/^PKGS nginx${T}pkg zlib-1.3.1 (dependency)${T}.*${T}sha512://p")
new=$(sha512sum "$M/pkg/All/zlib-1.3.1.tgz" | cut -d' ' -f1)
[ -n "$old" ] && [ "$old" != "$new" ] || fail "mkpkgrepo --rebuilt did not change zlib-1.3.1.tgz"
# with the cache, the pinned file is reused as it was: no error, no request
n=$(http_count)
run "$SMOLC" build -o cached
expect_rc 0 "locked build from the cache after the rebuild"
tail -n +"$((n + 1))" "$HTTP_LOG" | grep -q 'zlib' && fail "the cached pinned zlib was fetched again"
# an empty cache downloads it and finds other bytes
SMOLC_CACHE="$TEST_TMP/cache2" run "$SMOLC" build -o fresh
expect_rc 1 "locked build of a rebuilt package"
assert_contains "$OUT" "fetch ${SITE}zlib-1.3.1.tgz: sha512 mismatch: expected $old, got $new (download discarded)" "pin mismatch message"
assert_contains "$OUT" "Smolfile.lock pins zlib-1.3.1 (dependency) to that digest" "pin mismatch hint"
assert_contains "$OUT" "smolc lock --update-lock" "pin mismatch hint names the fix"
assert_match "$OUT" "^Smolfile:6:1: error: " "pin mismatch points at PKGS"
assert_no_file fresh/web-amd64.img
assert_cache_sane "$TEST_TMP/cache2"
# smolc lock --update-lock pins the new bytes
run "$SMOLC" lock --update-lock
expect_rc 0 "smolc lock --update-lock"
assert_contains "$(cat Smolfile.lock)" "pkg zlib-1.3.1 (dependency)${T}${SITE}zlib-1.3.1.tgz${T}sha512:$new" "lock after --update-lock"
SMOLC_CACHE="$TEST_TMP/cache2" run "$SMOLC" build -o fresh
expect_rc 0 "build after smolc lock --update-lock"
assert_contains "$(dbg_cat fresh/web-amd64.img /usr/pkg/pkgdb/zlib-1.3.1/+COMMENT)" "(rebuilt)" "the rebuilt zlib is installed"
assert_fsck_clean fresh/web-amd64.img
# a malformed lock is an error that says what to do
printf 'smolc-lock 1\nPKGS nginx\tbroken\n' >Smolfile.lock
run "$SMOLC" build
expect_rc 1 "build with a malformed lock"
assert_contains "$OUT" "Smolfile.lock:2: malformed record (expected 4 tab-separated fields); run smolc lock --update-lock" "malformed lock"
echo ok
