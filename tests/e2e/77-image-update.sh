#!/bin/bash
# 77-image-update: a rebuild after a small change updates images/<name>.img
# in place (images/<name>.layout), and the result is byte-identical to a
# fresh build of the same recipe:
#  - over a sequence of random small edits (seeded; the seed is logged):
#    the RC text, a COPY'd file changed, removed, grown, added; after each,
#    the in-place image equals a fresh build into another directory, byte
#    for byte, and e2fsck finds it clean; most steps are updated in place;
#  - kill -9 at every point of an update (before it starts, while blocks
#    are written, before the metadata, after the image is synced, before
#    the stamp): the killed build leaves no stamp that trusts the image,
#    the update is not resumed from a half-written image (the next build
#    writes it anew), and the next build's image equals a fresh one;
#  - an image changed behind smolc's back (a VM, dd) or hard-linked
#    elsewhere is never updated in place: the other link keeps its bytes;
#  - build --no-store records nothing in the image store (not with -t).
# FROM scratch with a local kernel and a generated set: no network.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache" SMOLC_COLOR=never
T=$TEST_TMP
SEED=${SMOLC_TEST_SEED:-$RANDOM}
t_log "seed $SEED (SMOLC_TEST_SEED=$SEED reproduces this run)"
$MKSET --kind base --files 400 --bytes 3000000 --compress none "$T/s.tar" >/dev/null
xz -1 -T2 -c "$T/s.tar" >"$T/s.tar.xz"
echo kernel >k
mkdir -p ctx
for i in 1 2 3 4 5; do head -c $((i * 3000)) /dev/urandom >"ctx/f$i"; done
rc_text() { printf 'FROM scratch\nSERVICE inc\nSETS %s\nKERNEL ./k\nCOPY ctx /srv/ctx/\nRC <<EOR\n#!/bin/sh\n%s\nEOR\n' "$T/s.tar.xz" "$1" >Smolfile; }
rc_text "echo start"
img=images/inc-amd64.img
n_fresh=0

# check_fresh WHAT: the image in images/ equals a fresh build's
check_fresh() {
	n_fresh=$((n_fresh + 1))
	local o="$T/fresh$n_fresh"
	run "$SMOLC" build -q -o "$o"
	expect_rc 0 "$1: fresh build"
	assert_same_file "$o/inc-amd64.img" "$img" "$1: in-place image vs fresh build"
	assert_fsck_clean "$img"
	rm -rf "$o"
}
# build_inc WHAT: build in images/; sets HOW to "in place" or "anew"
build_inc() {
	run "$SMOLC" build
	expect_rc 0 "$1: build"
	if printf '%s\n' "$OUT" | grep -q 'image updated in place in'; then HOW="in place"
	elif printf '%s\n' "$OUT" | grep -q 'image written in'; then HOW=anew
	else fail "$1: the build wrote no image:
$OUT"; fi
}

build_inc "first build"
assert_eq anew "$HOW" "the first build"
assert_file images/inc-amd64.layout
check_fresh "first build"

# ---- random small edits ----
python3 - "$SEED" >"$T/edits" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
for i in range(12):
    print(r.choice(["rc", "rc-long", "change", "remove", "grow", "add"]), r.randrange(1, 1 << 30))
PY
inplace=0
while read -r kind n; do
	files=(ctx/*)
	f=${files[$((n % ${#files[@]}))]}
	case $kind in
	rc) rc_text "echo $n" ;;
	rc-long) rc_text "$(python3 -c "print('# padding ' * ($n % 700))")echo $n" ;;
	change) head -c "$(stat -c %s "$f")" /dev/urandom >"$f" ;;
	remove) [ ${#files[@]} -gt 1 ] && rm "$f" || rc_text "echo $n" ;;
	grow) head -c $((n % 20000 + 1)) /dev/urandom >>"$f" ;;
	add) head -c $((n % 9000)) /dev/urandom >"ctx/new$n" ;;
	esac
	build_inc "edit $kind $n"
	t_log "edit $kind $n ($f): $HOW"
	[ "$HOW" = "in place" ] && inplace=$((inplace + 1))
	check_fresh "edit $kind $n"
done <"$T/edits"
[ "$inplace" -ge 8 ] || fail "only $inplace of 12 edits were updated in place"

# ---- kill -9 at each point of an update ----
for point in update-start update-write@1 update-write@2 update-metadata image-written before-stamp; do
	rc_text "echo killed at $point"
	run env SMOLC_FAULT="$point" "$SMOLC" build
	[ "$RC" -eq 137 ] || fail "$point: the build was not killed (exit $RC): $OUT"
	# the killed build's image is not trusted: a rebuild of the same recipe
	# is not up to date
	run "$SMOLC" build --json
	expect_rc 0 "$point: rebuild"
	assert_contains "$OUT" '"up_to_date":false' "$point: the image is not taken as up to date"
	check_fresh "after kill -9 at $point"
	# and it was written anew unless the update had finished (layout saved)
	run "$SMOLC" build
	rc_text "echo after $point"
	build_inc "after $point"
	assert_eq "in place" "$HOW" "$point: a later change, from an intact image"
	check_fresh "after $point, a later change"
done
# the update-write points are hit only while an update runs
rc_text "echo last"
run env SMOLC_FAULT=update-write@1 "$SMOLC" build -o "$T/fresh-out"
expect_rc 0 "a fresh build is not an update"
rm -rf "$T/fresh-out"

# a kill while the image is half-updated: the next build writes it anew
rc_text "echo half"
run env SMOLC_FAULT=update-metadata "$SMOLC" build
[ "$RC" -eq 137 ] || fail "update-metadata: not killed (exit $RC)"
assert_no_file images/inc-amd64.stamp
assert_no_file images/inc-amd64.layout
build_inc "after a half update"
assert_eq anew "$HOW" "the build after a half-written update"
check_fresh "after a half update"

# ---- an image changed behind smolc's back ----
printf 'X' | dd of="$img" bs=1 seek=$((1048576 + 70000)) conv=notrunc status=none
rc_text "echo after dd"
build_inc "after dd"
assert_eq anew "$HOW" "an image written since its layout was saved"
check_fresh "after dd"

# ---- a hard link elsewhere (the image store's, for READONLY images) ----
ln "$img" "$T/other.img"
cp "$T/other.img" "$T/other.copy"
rc_text "echo linked"
build_inc "hard-linked image"
assert_eq anew "$HOW" "an image with another hard link"
assert_same_file "$T/other.copy" "$T/other.img" "the other link"
check_fresh "hard-linked image"

# ---- --no-store: the edit loop without the image store's copy ----
rc_text "echo no store"
run "$SMOLC" build --no-store --json
expect_rc 0 "build --no-store"
key=$(printf '%s\n' "$OUT" | sed -n 's/.*"key":"\([0-9a-f]\{64\}\)".*/\1/p')
[ -n "$key" ] || fail "build --no-store --json: no key in $OUT"
run "$SMOLC" images --json
expect_rc 0 "images"
assert_not_contains "$OUT" "$key" "the store after build --no-store"
check_fresh "build --no-store"
run "$SMOLC" build --no-store -t x:y
expect_rc 2 "--no-store with -t"
assert_contains "$OUT" "smolc: build: -t names the image in the image store; it cannot go with --no-store" "--no-store with -t"
