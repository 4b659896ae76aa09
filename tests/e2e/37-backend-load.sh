#!/bin/bash
# 37-backend-load: ./smolc links libc, libcrypto, libyaml and jansson only;
# the code that needs libarchive, libext2fs, libfdisk, libcurl, libelf,
# zlib, libzstd and liblzma is in libsmolc-backend.so, loaded on first use
# (cli/backend.h). Checked here:
#  - with those libraries made unloadable (bubblewrap binds /dev/null over
#    them) `check`, `plan` and a no-op rebuild still work, and so do plan
#    and a no-op rebuild of a set downloaded earlier; a build that
#    unpacks a set fails with one clear error naming the library and the
#    Debian package, exit 1, and no image;
#  - a smolc copied without its backend says where it looked and what to
#    do, exit 1; the `make install` layout (bin/, lib/smolc/) works;
#  - a backend from another build is refused, naming the file.
set -eu
. "$ROOT/tests/lib/common.sh"

BACKEND=$(dirname "$SMOLC")/libsmolc-backend${SMOLC_SAN:+-asan}.so
[ -f "$BACKEND" ] || fail "no backend beside $SMOLC ($BACKEND)"
[ -x /usr/bin/bwrap ] || skip "bubblewrap (/usr/bin/bwrap) is not installed"
lib_path() { ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }'; }
heavy=() # bwrap options binding /dev/null over the libraries
for l in libarchive.so.13 libext2fs.so.2 libfdisk.so.1 libcurl.so.4 libelf.so.1 libzstd.so.1; do
	p=$(lib_path "$l")
	[ -n "$p" ] || skip "$l not found by ldconfig"
	heavy+=(--ro-bind /dev/null "$p")
done
bwrap --dev-bind / / "${heavy[@]}" true 2>/dev/null || skip "bwrap cannot bind over the libraries here"

export SMOLC_CACHE="$TEST_TMP/cache"
$MKSET --kind tiny set.tar
fake_kernel kern 16
cat >Smolfile <<'EOF2'
FROM scratch
SERVICE lazy
SETS ./set.tar
KERNEL ./kern
RC ./rc
EOF2
echo 'echo hi' >rc

run bwrap --dev-bind / / "${heavy[@]}" "$SMOLC" check
expect_rc 0 "check without the heavy libraries"
assert_contains "$OUT" "Smolfile: ok (5 instructions, service lazy)" "check output"
run bwrap --dev-bind / / "${heavy[@]}" "$SMOLC" plan
expect_rc 0 "plan without the heavy libraries"
assert_contains "$OUT" "plan for Smolfile" "plan output"

run bwrap --dev-bind / / "${heavy[@]}" "$SMOLC" build
expect_rc 1 "build without libarchive"
assert_match "$OUT" "^smolc: cannot load the build backend .*libsmolc-backend.*\.so: lib[a-z0-9]*\.so\.[0-9]*: .*; install the library it needs \(Debian package [a-z0-9-]*: apt-get install [a-z0-9-]*\) and retry$" \
	"error names the backend, the library and the package"
assert_no_file images/lazy-amd64.img

# with the libraries there, the same build works; a no-op rebuild then
# needs none of them
run "$SMOLC" build
expect_rc 0 "build with the libraries"
assert_file images/lazy-amd64.img
run bwrap --dev-bind / / "${heavy[@]}" "$SMOLC" build
expect_rc 0 "no-op rebuild without the heavy libraries"
run env SMOLC_BACKEND=/nonexistent/backend.so "$SMOLC" build
expect_rc 0 "no-op rebuild without the backend"

# a pinned set downloaded over HTTP: once in the cache, planning and a
# no-op rebuild answer it without the backend (the downloader is in it;
# an unpinned URL is revalidated online, which needs it)
mkdir -p srv web
cp set.tar srv/
http_start "$TEST_TMP/srv"
cat >web/Smolfile <<EOF2
FROM scratch
SERVICE web
SETS $HTTP_URL/set.tar sha256:$(sha256sum set.tar | cut -c1-64)
KERNEL ../kern
RC ../rc
EOF2
run "$SMOLC" build web
expect_rc 0 "build of a set over HTTP"
[ "$(http_count)" -ge 1 ] || fail "the set was not downloaded: $OUT"
http_stop
run env SMOLC_BACKEND=/nonexistent/backend.so "$SMOLC" plan web
expect_rc 0 "plan of a cached HTTP set without the backend"
run env SMOLC_BACKEND=/nonexistent/backend.so "$SMOLC" build web
expect_rc 0 "no-op rebuild of a cached HTTP set without the backend"
assert_contains "$OUT" "image up to date" "nothing rebuilt"

# copied alone: where it looked, what to do
mkdir -p alone inst/bin inst/lib/smolc
cp "$SMOLC" alone/
echo 'echo changed' >rc
run "alone/$(basename "$SMOLC")" build
expect_rc 1 "build by a smolc without its backend"
assert_match "$OUT" "^smolc: cannot find the build backend $TEST_TMP/alone/libsmolc-backend.*\.so: smolc is installed without it; reinstall smolc \('make install' puts it in PREFIX/lib/smolc/\) or set SMOLC_BACKEND to its path$" \
	"missing backend"
run "alone/$(basename "$SMOLC")" check
expect_rc 0 "check by a smolc without its backend"

# the installed layout
cp "$SMOLC" inst/bin/
cp "$BACKEND" inst/lib/smolc/
run "inst/bin/$(basename "$SMOLC")" build
expect_rc 0 "build by an installed smolc"

# a backend from another build
abi=$(sed -n 's/^#define SMOLC_BACKEND_ABI "\([0-9a-f]*\)"$/\1/p' "$ROOT/build/gen/backend_abi.h")
[ ${#abi} = 16 ] || fail "cannot read the ABI digest off build/gen/backend_abi.h"
perl -pe "s/$abi/0123456789abcdef/g" "$BACKEND" >other.so
echo 'echo again' >rc
run env SMOLC_BACKEND="$TEST_TMP/other.so" "$SMOLC" build
expect_rc 1 "build with a backend of another build"
assert_match "$OUT" "^smolc: the build backend $TEST_TMP/other.so is not the one this smolc \([^,]*, build $abi\) was built with \(it is [^,]*, build 0123456789abcdef\); rebuild \('make'\) or reinstall smolc$" \
	"foreign backend"
echo ok
