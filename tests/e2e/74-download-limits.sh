#!/bin/bash
# 74-download-limits: every download is bounded. A server that trickles
# (2 bytes/s, under the low-speed limit) and a download longer than its
# deadline both fail the build (exit 1) with a message that says which
# limit tripped and how to change it; nothing is left in the cache. The
# limits come from SMOLC_DOWNLOAD_MIN_SPEED / _SLOW_TIME / _DEADLINE, set
# low here so that the test takes seconds.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
http_start "$M"
mkdir -p svc && cd svc
head -c 3000 /dev/urandom >"$M/blob.bin"
printf 'FROM scratch\nSERVICE dl\nPROFILE linux\nKERNEL %s/trickle/blob.bin\n' "$HTTP_URL" >Smolfile
run env SMOLC_DOWNLOAD_MIN_SPEED=100 SMOLC_DOWNLOAD_SLOW_TIME=2 "$SMOLC" build -q
expect_rc 1 "a trickling server"
assert_contains "$OUT" "slower than 100 bytes/s for 2 s" "the low-speed limit, named"
assert_contains "$OUT" "SMOLC_DOWNLOAD_MIN_SPEED=<bytes/s>" "how to change it"

# /slow/ sends 20 KiB/s: above the speed limit, but a 2 s deadline trips
head -c 400000 /dev/urandom >"$M/big.bin"
printf 'FROM scratch\nSERVICE dl\nPROFILE linux\nKERNEL %s/slow/big.bin\n' "$HTTP_URL" >Smolfile
run env SMOLC_DOWNLOAD_DEADLINE=2 "$SMOLC" build -q
expect_rc 1 "a download past its deadline"
assert_contains "$OUT" "took longer than the 2 s a download may take" "the deadline, named"
assert_contains "$OUT" "SMOLC_DOWNLOAD_DEADLINE=<seconds>" "how to change it"
[ -z "$(find "$SMOLC_CACHE/downloads" -type f 2>/dev/null)" ] || fail "a partial download was kept: $(find "$SMOLC_CACHE/downloads" -type f)"

# the same file without the fault downloads fine
printf 'FROM scratch\nSERVICE dl\nPROFILE linux\nKERNEL %s/big.bin\n' "$HTTP_URL" >Smolfile
run env SMOLC_DOWNLOAD_DEADLINE=60 "$SMOLC" build -q
expect_rc 0 "the same download, served normally"
assert_cache_sane "$SMOLC_CACHE"
echo ok
