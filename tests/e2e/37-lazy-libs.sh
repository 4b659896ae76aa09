#!/bin/bash
# 37-lazy-libs: smolc loads libarchive, libext2fs, libfdisk, libcurl and
# libcrypto on first use (compiler/lazylib.c). With those libraries made
# unloadable (bubblewrap binds /dev/null over them):
#  - `smolc check` still works without any of them;
#  - a build that unpacks a set fails with one clear error naming the
#    library and the Debian package to install, exit 1, and no image.
set -eu
. "$ROOT/tests/lib/common.sh"

[ -x /usr/bin/bwrap ] || skip "bubblewrap (/usr/bin/bwrap) is not installed"
lib_path() { ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }'; }
all=() but_crypto=() # bwrap options binding /dev/null over the libraries
for l in libarchive.so.13 libext2fs.so.2 libfdisk.so.1 libcurl.so.4 libcrypto.so.3; do
	p=$(lib_path "$l")
	[ -n "$p" ] || skip "$l not found by ldconfig"
	all+=(--ro-bind /dev/null "$p")
	# a build plans first (its keys need libcrypto), then unpacks the set
	[ "$l" = libcrypto.so.3 ] || but_crypto+=(--ro-bind /dev/null "$p")
done
bwrap --dev-bind / / "${all[@]}" true 2>/dev/null || skip "bwrap cannot bind over the libraries here"

export SMOLC_CACHE="$TEST_TMP/cache"
$MKSET --kind tiny set.tar
fake_kernel kern 16
cat >Smolfile <<'EOF'
FROM scratch
SERVICE lazy
SETS ./set.tar
KERNEL ./kern
EOF

run bwrap --dev-bind / / "${all[@]}" "$SMOLC" check
expect_rc 0 "check without the heavy libraries"
assert_contains "$OUT" "Smolfile: ok (4 instructions, service lazy)" "check output"

run bwrap --dev-bind / / "${but_crypto[@]}" "$SMOLC" build
expect_rc 1 "build without libarchive"
assert_match "$OUT" "^smolc: cannot load libarchive\.so\.13: .*$" "error names the library"
assert_match "$OUT" "^smolc: install it \(Debian package libarchive13: apt-get install libarchive13\) and retry$" \
	"error names the package"
assert_no_file images/lazy-amd64.img

# and with the libraries there, the same build works
run "$SMOLC" build
expect_rc 0 "build with the libraries"
assert_file images/lazy-amd64.img
echo ok
