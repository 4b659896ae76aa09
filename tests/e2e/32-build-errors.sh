#!/bin/bash
# 32-build-errors: bad inputs give one clear error line naming the input
# and the entry, exit 1 (2 for recipe errors), no image for that build,
# and nothing corrupt in the cache: after each failure the good inputs
# build fine with the same cache.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
S="$M/$SETS_REL"
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"

mkdir -p svc && cd svc
recipe() { # $1: SETS list, $2: KERNEL line, $3: extra line
	cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE web
SETS $1
$2
$3
EOF
}
KLINE="KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256"
recipe "base etc" "$KLINE" ""

# regenerate the sets; base with extra mkset args; SHA512 lists them
mkbase() {
	rm -f "$S/SHA512"
	$MKSET --kind base --files 300 --bytes 2000000 "$@" --sha512 "$S/SHA512" "$S/base.tar.xz"
	$MKSET --kind etc --files 40 --sha512 "$S/SHA512" "$S/etc.tar.xz"
	$MKSET --kind rescue --bytes 200000 --sha512 "$S/SHA512" "$S/rescue.tgz"
}

# the error lines ("error:" lines) of the last run
errors() { printf '%s\n' "$OUT" | grep ': error: ' || true; }

# check_fail NAME RC ERE: the build into out-NAME failed with RC and
# exactly one error line matching ERE; no image; the cache has no leftovers
check_fail() {
	local name=$1 want_rc=$2 re=$3
	run "$SMOLC" build -o "out-$name"
	expect_rc "$want_rc" "$name"
	local e; e=$(errors)
	assert_lines 1 "$e" "$name: error lines"
	assert_match "$e" "$re" "$name: error message"
	if [ -d "out-$name" ]; then
		local left; left=$(ls -A "out-$name")
		[ -z "$left" ] || fail "$name: the failed build left files in out-$name: $left"
	fi
	assert_cache_sane "$SMOLC_CACHE"
	t_log "$name: $e"
}

# a good build first, so the cache holds good layers next to the bad ones
run "$SMOLC" build -o good
expect_rc 0 "good build"
cp good/web-amd64.img "$TEST_TMP/good.img"

ent='Smolfile:3:6: error: base\.tar\.xz: entry '
mkbase --evil dotdot >/dev/null
check_fail dotdot 1 "${ent}\"\./\.\./evil\" escapes the image root$"
mkbase --evil absolute >/dev/null
check_fail absolute 1 "${ent}\"/etc/evil\" has an absolute path"
mkbase --evil symlink-escape >/dev/null
check_fail symlink-escape 1 "${ent}\"\./evil-link/passwd\" goes through the symlink \"/evil-link\""
mkbase --evil hardlink-escape >/dev/null
check_fail hardlink-escape 1 "${ent}\"\./bin/evil\" is a hard link to \"\.\./outside\", which escapes the image root"
mkbase --evil hardlink-missing >/dev/null
check_fail hardlink-missing 1 "${ent}\"\./bin/evil\" is a hard link to \"bin/missing\", which is not an earlier entry"
mkbase --evil overlong >/dev/null
check_fail overlong 1 "${ent}\"\./etc/x{300}\" has a name component longer than 255 bytes"
mkbase --evil truncated >/dev/null
check_fail truncated 1 "${ent}\"\./[^\"]+\": .*(truncated|corrupt)"

# not an archive at all (listed with its real digest)
mkbase >/dev/null
head -c 100000 /dev/urandom >"$S/base.tar.xz"
rm -f "$S/SHA512"
(cd "$S" && sha512sum --tag base.tar.xz etc.tar.xz rescue.tgz >SHA512)
check_fail corrupt 1 "Smolfile:3:6: error: base\.tar\.xz: Unrecognized archive format"

# served file differs from the SHA512 list
mkbase >/dev/null
want=$(sha512sum "$S/base.tar.xz" | cut -d' ' -f1)
echo tampered >>"$S/base.tar.xz"
got=$(sha512sum "$S/base.tar.xz" | cut -d' ' -f1)
check_fail sha512-mismatch 1 "Smolfile:3:6: error: fetch $HTTP_URL/$SETS_REL/base\.tar\.xz: sha512 mismatch: expected $want, got $got \(download discarded\)$"

# a set listed in SHA512 but missing on the mirror (never cached)
mkbase >/dev/null
mv "$S/rescue.tgz" "$S/rescue.tgz.away"
recipe "base etc rescue" "$KLINE" ""
check_fail set-404 1 "Smolfile:3:15: error: fetch $HTTP_URL/$SETS_REL/rescue\.tgz: HTTP 404 Not Found"
assert_contains "$(errors)" "check the NetBSD version and set name" "set-404 hint"
mv "$S/rescue.tgz.away" "$S/rescue.tgz"
# a set that is not in the SHA512 list
recipe "base etc games" "$KLINE" ""
check_fail set-unknown 1 "Smolfile:3:15: error: .*games"

# nobody listening on the mirror's port
recipe "base etc" "$KLINE" ""
dead=$(free_port)
SMOLC_MIRROR="http://127.0.0.1:$dead" check_fail refused 1 \
	"error: fetch http://127\.0\.0\.1:$dead/$SETS_REL/SHA512: connection refused by 127\.0\.0\.1 port $dead"

# SIZE too small: says how much is needed
recipe "base etc" "$KLINE" "SIZE 3M"
check_fail size 1 "Smolfile:5:1: error: out-size/web-amd64\.img: image size 3 MiB is too small: the tree needs at least [0-9]+ MiB$"
# … and when the files alone exceed it, the build stops at the step that
# makes them too many, before writing anything
head -c 3000000 /dev/zero >big.bin
recipe "base etc" "$KLINE" "SIZE 2M
COPY big.bin /big.bin"
check_fail size-early 1 "Smolfile:5:1: error: the image needs at least [0-9]+ MiB: after COPY big\.bin /big\.bin its files alone take [0-9]+ MiB, more than SIZE 2 MiB$"
rm -f big.bin

# kernel: a URL that is not there, a path that is not there (recipe error)
recipe "base etc" "KERNEL $HTTP_URL/kernels/nope" ""
check_fail kernel-404 1 "Smolfile:4:8: error: fetch $HTTP_URL/kernels/nope: HTTP 404 Not Found"
recipe "base etc" "KERNEL ./no-such-kernel" ""
check_fail kernel-path 2 "Smolfile:4:8: error: kernel '\./no-such-kernel' not found"
# a kernel whose content does not match its pin
recipe "base etc" "KERNEL $HTTP_URL/$KERNEL_REL sha256:$(printf '0%.0s' $(seq 64))" ""
check_fail kernel-pin 1 "Smolfile:4:8: error: fetch $HTTP_URL/$KERNEL_REL: sha256 mismatch: expected 0{64}, got $KERNEL_SHA256"

# --- after all that, the good inputs build with the same cache ---
mkbase >/dev/null
recipe "base etc" "$KLINE" ""
run "$SMOLC" build -o good2
expect_rc 0 "good build after the failures"
assert_same_file "$TEST_TMP/good.img" good2/web-amd64.img "good image after the failures"
assert_fsck_clean good2/web-amd64.img
# and without the layers, from the downloads only
run "$SMOLC" build -o good3 --no-cache
expect_rc 0 "good --no-cache build after the failures"
assert_same_file "$TEST_TMP/good.img" good3/web-amd64.img "good --no-cache image after the failures"
assert_cache_sane "$SMOLC_CACHE"
echo ok
