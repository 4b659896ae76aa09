#!/bin/bash
# 72-cache-verify: a damaged cache entry is never data.
#  - a byte flipped in a cached layer's data file (mtime kept, so only the
#    digest can tell), or a mode changed in its entry list (0555 -> 4777,
#    same size, mtime kept), or a data file touched: the next build that
#    writes an image warns, rebuilds that layer and gives the same image
#    as the clean build;
#    the digest a build checked is remembered under the files' identity
#    (layers/<key>/verified), and a changed file (its ctime moves even
#    when its mtime is put back) is read and checked again;
#  - `smolc cache verify` lists damaged layers and downloads (exit 1),
#    --remove deletes them, then it reports none (exit 0).
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
M="$TEST_TMP/mirror"
make_mirror "$M" >/dev/null
http_start "$M"
export SMOLC_MIRROR="$HTTP_URL"
mkdir -p svc && cd svc
cat >Smolfile <<EOF2
FROM netbsd-10.1
SERVICE t
SETS rescue etc
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
EOF2
run "$SMOLC" build -o ref
expect_rc 0 "clean build"
ref=ref/t-amd64.img
run "$SMOLC" cache verify
expect_rc 0 "cache verify on a good cache"
assert_match "$OUT" '^checked [0-9]+ entries, 0 damaged$' "cache verify summary"

# the layer of the rescue set: its desc names the step
layer_of() { grep -l "^SETS $1 " "$SMOLC_CACHE"/layers/*/desc | head -1 | xargs dirname; }
L=$(layer_of rescue)
[ -d "$L" ] || fail "no cached layer for SETS rescue"
key=$(basename "$L")
# a build from the cache checks the layers it uses, and remembers it
run "$SMOLC" build -o ref2
expect_rc 0 "a build from the cache"
assert_same_file "$ref" ref2/t-amd64.img "the image from the cache"
assert_file "$L/verified"

# flip_byte FILE OFFSET: xor one byte, keep size and mtime
flip_byte() {
	local f=$1 off=$2
	cp -p "$f" "$TEST_TMP/stamp"
	python3 -c '
import sys; p, o = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x20]))' "$f" "$off"
	touch -r "$TEST_TMP/stamp" "$f"
}
# rebuild_same NAME WHY-ERE: a build into out-NAME warns about the layer,
# rebuilds it, and gives the reference image; the cache is good again
rebuild_same() {
	run "$SMOLC" build -o "out-$1"
	expect_rc 0 "$1: build"
	local w; w=$(printf '%s\n' "$OUT" | grep ': warning: ' || true)
	assert_lines 1 "$w" "$1: warnings"
	assert_match "$w" "warning: SETS rescue: the cached layer ${key:0:12} is damaged \\($2\\); building it again\$" "$1: warning"
	assert_match "$(built_steps "$OUT")" '^SETS rescue' "$1: the layer was built again"
	assert_same_file "$ref" "out-$1/t-amd64.img" "$1: image after the damaged layer"
	assert_fsck_clean "out-$1/t-amd64.img"
	t_log "$1: $w"
}

# 1. a byte of file data, mtime kept: only the digest tells
size=$(stat -c %s "$L/data")
flip_byte "$L/data" $((size / 2))
run "$SMOLC" cache verify
expect_rc 1 "cache verify with a damaged layer"
assert_contains "$OUT" "layer $key (SETS rescue (t)): its content does not match its recorded digest sha256:" "cache verify names the layer"
assert_match "$OUT" 'checked [0-9]+ entries, 1 damaged' "cache verify summary"
rebuild_same flipped 'its content does not match its recorded digest sha256:[0-9a-f]{12}…'

# 2. a mode in the entry list: 0555 -> 4777, same size, mtime kept
L=$(layer_of rescue)
line=$(grep -n '^F [^ ]* 555 ' "$L/entries" | head -1 | cut -d: -f1)
[ -n "$line" ] || fail "test setup: no 0555 file in the rescue layer"
cp -p "$L/entries" "$TEST_TMP/stamp"
sed -i "${line}s/^\\(F [^ ]*\\) 555 /\\1 4777 /" "$L/entries"
sed -i "${line}s/^\\(F [^ ]*\\) 4777 0 0 root wheel /\\1 4777 0 0 root whee /" "$L/entries"
touch -r "$TEST_TMP/stamp" "$L/entries"
[ "$(stat -c %s "$L/entries")" = "$(stat -c %s "$TEST_TMP/stamp")" ] || fail "test setup: entry list size changed"
rebuild_same mode 'its content does not match its recorded digest sha256:[0-9a-f]{12}…'

# 3. the data file touched (the cheap size/mtime check)
L=$(layer_of rescue)
touch -d '2001-01-01' "$L/data"
rebuild_same touched 'its data file was modified'

# cache verify: a damaged download too; --remove deletes both
L=$(layer_of rescue)
flip_byte "$L/data" 10
D=$(grep -l "rescue.tgz" "$SMOLC_CACHE"/downloads/*/meta | head -1 | xargs dirname)
flip_byte "$D/file" 100
run "$SMOLC" cache verify
expect_rc 1 "cache verify: two damaged"
assert_match "$OUT" 'checked [0-9]+ entries, 2 damaged' "two damaged"
assert_contains "$OUT" "download $(basename "$D") ($HTTP_URL/$SETS_REL/rescue.tgz): its content does not match" "the download is named"
run "$SMOLC" cache verify --remove
expect_rc 1 "cache verify --remove"
assert_contains "$OUT" "; removed" "--remove says so"
[ ! -e "$L" ] || fail "cache verify --remove left the damaged layer"
[ ! -e "$D/file" ] || fail "cache verify --remove left the damaged download"
run "$SMOLC" cache verify
expect_rc 0 "cache verify after --remove"
run "$SMOLC" build -o out-after
expect_rc 0 "build after --remove"
assert_same_file "$ref" out-after/t-amd64.img "image after --remove"
