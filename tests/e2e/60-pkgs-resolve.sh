#!/bin/bash
# 60-pkgs-resolve: PKGS against a synthetic pkgsrc repository served on
# 127.0.0.1 (tests/lib/mkpkgrepo.py --diamond --forced-older):
#  - a diamond (app -> liba, libb -> libc) installs one libc, dependencies
#    first; a version range ('libc>=1.0<2.0') forces libc-1.5 although
#    libc-2.0 exists; a glob ('pcre2-10.4[0-9]*') takes the newest match;
#    '{zlib,nosuch}>=1' alternatives;
#  - `smolc plan` names every resolved package with its version, URL and
#    SHA512, marks dependencies, and (from the cached pkg_summary) picks
#    libc-2.0 for a plain `PKGS app` and libc-1.5 when tool (libc<2) is
#    asked for too;
#  - the image: files under /usr/pkg with their modes and owners, the
#    pkgdb (+CONTENTS as packed, +COMMENT, +DESC, +BUILD_INFO, +SIZE_PKG,
#    +REQUIRED_BY naming the dependents, +INSTALLED_INFO for automatic
#    packages), e2fsck -fn clean;
#  - a second build is all CACHED and downloads no package again.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
REPO="$TEST_TMP/repo"
"$FIXTURE" pkgrepo "$REPO" --diamond --forced-older
http_start "$REPO"
SITE="$HTTP_URL/All/"

mkdir -p svc && cd svc
fake_kernel kern 16
cat >Smolfile <<EOF
FROM scratch
SERVICE pk
KERNEL ./kern
PKGSITE $SITE
PKGS app 'libc>=1.0<2.0' 'pcre2-10.4[0-9]*' '{zlib,nosuch}>=1'
EOF

# --- plan before anything is cached: the packages are pending ---
run "$SMOLC" plan
expect_rc 0 "plan with an empty cache"
assert_contains "$OUT" "input  packages  $SITE  pending" "plan with nothing cached"
assert_eq 0 "$(http_count)" "requests made by smolc plan"

# --- cold build ---
run "$SMOLC" build
expect_rc 0 "cold build"
t_log "$OUT"
img=images/pk-amd64.img
assert_file "$img"
assert_eq 0 "$(cached_count "$OUT")" "CACHED steps in the cold build"
pk_step="PKGS app libc>=1.0<2.0 pcre2-10.4[0-9]* {zlib,nosuch}>=1"
assert_contains "$(built_steps "$OUT")" "$pk_step" "built steps of the cold build"
for p in libc-1.5 liba-1.0 libb-1.0 app-1.0 pcre2-10.42nb1 zlib-1.3.1; do
	assert_eq 1 "$(grep -c "^GET /All/$p.tgz 200\$" "$HTTP_LOG" || true)" "GET of $p.tgz"
	assert_contains "$OUT" "installing $p under /usr/pkg" "build log for $p"
done
for p in libc-1.0 libc-2.0 pcre2-10.40 tool-3.0; do
	assert_eq 0 "$(grep -c "^GET /All/$p.tgz" "$HTTP_LOG" || true)" "GET of $p.tgz (not chosen)"
done
# install order: a package after its dependencies
order=$(printf '%s\n' "$OUT" | sed -n 's/^ *installing \([^ ]*\) under.*/\1/p' | tr '\n' ' ')
assert_eq "libc-1.5 liba-1.0 libb-1.0 app-1.0 pcre2-10.42nb1 zlib-1.3.1 " "$order" "install order"

# --- plan: resolved packages with versions (from the cached pkg_summary) ---
run "$SMOLC" plan
expect_rc 0 "plan after the build"
P=$OUT
sha() { sed -n "s/^SHA512 ($1.tgz) = //p" "$REPO/All/SHA512"; }

# the resolution is remembered: the next plan reads the memo, not the
# pkg_summary, and says the same; a torn memo is ignored
"$SMOLC" --debug plan >memo.out 2>memo.err || fail "plan with the resolution memo: $(cat memo.err)"
grep -q "6 packages from the resolution memo" memo.err || fail "plan did not use the resolution memo: $(cat memo.err)"
assert_eq "$P" "$(cat memo.out)" "plan from the resolution memo"
for m in "$SMOLC_CACHE"/resolved/*; do printf 'x' >>"$m"; done
"$SMOLC" --debug plan >memo.out 2>memo.err || fail "plan with a torn memo: $(cat memo.err)"
grep -q "from the resolution memo" memo.err && fail "a torn resolution memo was trusted"
assert_eq "$P" "$(cat memo.out)" "plan after a torn memo"
assert_contains "$P" "input  pkg libc-1.5  ${SITE}libc-1.5.tgz  sha512:$(sha libc-1.5)" "plan: libc-1.5 (range)"
assert_contains "$P" "input  pkg liba-1.0 (dependency)  ${SITE}liba-1.0.tgz  sha512:$(sha liba-1.0)" "plan: liba"
assert_contains "$P" "input  pkg libb-1.0 (dependency)  ${SITE}libb-1.0.tgz" "plan: libb"
assert_contains "$P" "input  pkg app-1.0  ${SITE}app-1.0.tgz" "plan: app"
assert_contains "$P" "input  pkg pcre2-10.42nb1  ${SITE}pcre2-10.42nb1.tgz" "plan: pcre2 (glob, newest)"
assert_contains "$P" "input  pkg zlib-1.3.1  ${SITE}zlib-1.3.1.tgz" "plan: zlib ({} alternatives)"
assert_eq 6 "$(printf '%s\n' "$P" | grep -c '^ *input  pkg ')" "packages in the plan"
assert_not_contains "$P" "libc-2.0" "plan (the range excludes libc-2.0)"
assert_not_contains "$P" "pending" "plan after the build"

# the same repository, other requests (plan only: the pkg_summary is cached)
mkdir -p ../plain ../forced
cp kern ../plain/ && cp kern ../forced/
sed 's/^PKGS .*/PKGS app/' Smolfile >../plain/Smolfile
sed 's/^PKGS .*/PKGS app tool/' Smolfile >../forced/Smolfile
n=$(http_count)
(cd ../plain && run "$SMOLC" plan; expect_rc 0 "plan of PKGS app"
 assert_contains "$OUT" "input  pkg libc-2.0 (dependency)" "PKGS app: the newest libc"
 assert_eq 1 "$(printf '%s\n' "$OUT" | grep -c 'input  pkg libc-')" "PKGS app: one libc for the diamond"
 assert_eq 4 "$(printf '%s\n' "$OUT" | grep -c '^ *input  pkg ')" "PKGS app: packages")
(cd ../forced && run "$SMOLC" plan; expect_rc 0 "plan of PKGS app tool"
 assert_contains "$OUT" "input  pkg libc-1.5 (dependency)" "PKGS app tool: tool's libc<2 forces libc-1.5"
 assert_not_contains "$OUT" "libc-2.0" "PKGS app tool"
 assert_contains "$OUT" "input  pkg tool-3.0  " "PKGS app tool: tool")
assert_eq "$n" "$(http_count)" "requests made by the plans"
# no PKGSITE in the recipe: $PKGSITE names the repository
mkdir -p ../envsite && cp kern ../envsite/
sed '/^PKGSITE /d; s/^PKGS .*/PKGS app/' Smolfile >../envsite/Smolfile
(cd ../envsite && run "$SMOLC" plan; expect_rc 2 "plan FROM scratch without PKGSITE or \$PKGSITE"
 assert_contains "$OUT" "PKGS needs a package repository" "no repository at all"
 PKGSITE="$SITE" run "$SMOLC" plan; expect_rc 0 "plan with \$PKGSITE"
 assert_contains "$OUT" "input  pkg app-1.0  ${SITE}app-1.0.tgz" "\$PKGSITE names the repository")

# --- the image ---
assert_fsck_clean "$img"
assert_gpt_ok "$img"
for b in app liba libb libc pcre2 zlib; do
	assert_meta "$img" /usr/pkg/bin/$b regular 0755 0 0
done
assert_meta "$img" /usr/pkg/share/doc/app/README regular 0644 0 0
assert_meta "$img" /usr/pkg directory 0755 0 0
assert_meta "$img" /usr/pkg/pkgdb directory 0755 0 0
assert_eq "#!/bin/sh
echo libc-1.5" "$(dbg_cat "$img" /usr/pkg/bin/libc)" "/usr/pkg/bin/libc is libc-1.5's"
assert_not_in_image "$img" /usr/pkg/+CONTENTS
assert_not_in_image "$img" /+CONTENTS
mkdir -p "$TEST_TMP/x"
for p in libc-1.5 liba-1.0 libb-1.0 app-1.0 pcre2-10.42nb1 zlib-1.3.1; do
	db=/usr/pkg/pkgdb/$p
	assert_meta "$img" $db directory 0755 0 0
	assert_meta "$img" $db/+CONTENTS regular 0644 0 0
	for f in +COMMENT +DESC +BUILD_INFO +SIZE_PKG; do
		assert_meta "$img" $db/$f regular 0444 0 0
	done
	rm -rf "$TEST_TMP/x"/* && tar xzf "$REPO/All/$p.tgz" -C "$TEST_TMP/x" +CONTENTS +COMMENT +DESC +BUILD_INFO +SIZE_PKG
	for f in +CONTENTS +COMMENT +DESC +BUILD_INFO +SIZE_PKG; do
		cmp -s <(dbg_cat "$img" $db/$f) "$TEST_TMP/x/$f" || fail "$db/$f differs from the package's $f"
	done
done
assert_contains "$(dbg_cat "$img" /usr/pkg/pkgdb/app-1.0/+CONTENTS)" "@name app-1.0" "app's +CONTENTS"
assert_eq "liba-1.0
libb-1.0" "$(dbg_cat "$img" /usr/pkg/pkgdb/libc-1.5/+REQUIRED_BY)" "libc-1.5/+REQUIRED_BY (the diamond)"
assert_eq "app-1.0" "$(dbg_cat "$img" /usr/pkg/pkgdb/liba-1.0/+REQUIRED_BY)" "liba-1.0/+REQUIRED_BY"
assert_eq "app-1.0" "$(dbg_cat "$img" /usr/pkg/pkgdb/libb-1.0/+REQUIRED_BY)" "libb-1.0/+REQUIRED_BY"
assert_meta "$img" /usr/pkg/pkgdb/libc-1.5/+REQUIRED_BY regular 0644 0 0
assert_not_in_image "$img" /usr/pkg/pkgdb/app-1.0/+REQUIRED_BY
assert_not_in_image "$img" /usr/pkg/pkgdb/zlib-1.3.1/+REQUIRED_BY
assert_eq "automatic=yes" "$(dbg_cat "$img" /usr/pkg/pkgdb/liba-1.0/+INSTALLED_INFO)" "liba-1.0 is automatic"
assert_not_in_image "$img" /usr/pkg/pkgdb/app-1.0/+INSTALLED_INFO
assert_not_in_image "$img" /usr/pkg/pkgdb/libc-1.5/+INSTALLED_INFO
assert_not_in_image "$img" /usr/pkg/pkgdb/libc-2.0
assert_not_in_image "$img" /usr/pkg/pkgdb/pcre2-10.40

# --- second build: all CACHED, no package downloaded again ---
cp "$img" "$TEST_TMP/first.img"
n=$(http_count)
run "$SMOLC" build
expect_rc 0 "second build"
total=$(step_total "$OUT")
assert_eq "$total" "$(cached_count "$OUT")" "CACHED steps in the second build"
assert_eq 0 "$(built_count "$OUT")" "built steps in the second build"
assert_contains "$OUT" "$total steps, $total cached, image up to date" "second build summary"
assert_same_file "$TEST_TMP/first.img" "$img" "image after the second build"
tail -n +"$((n + 1))" "$HTTP_LOG" | grep -q '\.tgz' && fail "the second build fetched a package: $(tail -n +"$((n + 1))" "$HTTP_LOG")"
# the image rebuilt from the cached layers is the same
rm -rf images
run "$SMOLC" build
expect_rc 0 "rebuild from the cached layers"
assert_eq "$total" "$(cached_count "$OUT")" "CACHED steps after deleting the image"
assert_same_file "$TEST_TMP/first.img" "$img" "image rebuilt from the cache"
assert_cache_sane "$SMOLC_CACHE"

# a repository without a SHA512 list: the memo records no digest ("-"),
# a plan from it shows the downloaded files' sha256 as a fresh resolution
# does, and a build does not download through it (the catalogue's sizes
# are checked then)
cp -R "$REPO/All" "$REPO/bare"
rm -f "$REPO/bare/SHA512" "$REPO/bare/SHA512.bz2"
mkdir -p ../bare && cp kern ../bare/
sed "s#^PKGSITE .*#PKGSITE $HTTP_URL/bare/#; s/^PKGS .*/PKGS app/" Smolfile >../bare/Smolfile
cd ../bare
export SMOLC_CACHE="$TEST_TMP/cache-bare"
run "$SMOLC" build -q
expect_rc 0 "build against a repository without SHA512"
"$SMOLC" --debug plan >memo.out 2>memo.err || fail "plan (no SHA512): $(cat memo.err)"
grep -q "4 packages from the resolution memo" memo.err || fail "plan (no SHA512) did not use the memo: $(cat memo.err)"
app=$(sha256sum "$REPO/bare/app-1.0.tgz" | cut -d' ' -f1)
assert_contains "$(cat memo.out)" "input  pkg app-1.0  $HTTP_URL/bare/app-1.0.tgz  sha256:$app" "plan from the memo: app's sha256"
assert_not_contains "$(cat memo.out)" ".tgz  -" "plan from the memo: no digest shown as '-'"
sed -i 's/^SERVICE pk/SERVICE pk2/' Smolfile
"$SMOLC" --debug build >memo.out 2>memo.err || fail "build (no SHA512): $(cat memo.err)"
grep -q "from the resolution memo" memo.err && fail "a build used a memo without digests"
assert_cache_sane "$SMOLC_CACHE"
echo ok
