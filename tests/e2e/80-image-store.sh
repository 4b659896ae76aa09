#!/bin/bash
# The local image store ($SMOLC_DATA): a build records its image under
# <service>:latest or -t NAME[:TAG]; `smolc images` (table and --json),
# `tag`, `rmi`, `run NAME[:TAG]` from another directory (the stored disk is
# never written: snapshot=on); -o still writes <service>-<arch>.img/.yaml;
# the store shares bytes with the outputs only when safe (hard link for a
# READONLY image, copy otherwise); a damaged entry is refused, not run;
# a rebuild deletes the image its tag named when no other tag names it.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data

mkdir -p ctx && cd ctx
head -c 200000 /dev/urandom >kern
echo hello >f
cat >Smolfile <<'EOF'
FROM scratch
SERVICE demo
PROFILE linux
KERNEL ./kern
COPY f /etc/f
RC <<'R'
#!/bin/sh
echo hi
R
EOF

run "$SMOLC" build -o out
expect_rc 0 "first build"
assert_contains "$OUT" "  tagged  demo:latest" "build summary"
assert_file out/demo-amd64.img
assert_file out/demo-amd64.yaml
key=$(printf '%s\n' "$OUT" | sed -n 's/^  key     //p')
[ ${#key} -eq 64 ] || fail "no image key in: $OUT"
d=$SMOLC_DATA/images/$key
assert_same_file out/demo-amd64.img "$d/disk.img" "stored disk"
assert_same_file out/demo-amd64.kernel "$d/kernel" "stored kernel"
# not READONLY: a VM may write to out/…img, so the store keeps its own copy
[ "$(stat -c %i out/demo-amd64.img)" != "$(stat -c %i "$d/disk.img")" ] || fail "rw image hard-linked into the store"
# the kernel nobody writes is linked, not copied
assert_eq "$(stat -c %i out/demo-amd64.kernel)" "$(stat -c %i "$d/kernel")" "kernel inode"
# sparse copy: the stored disk allocates about what the output does
[ "$(stat -c %b "$d/disk.img")" -le $(( $(stat -c %b out/demo-amd64.img) + 64 )) ] || fail "stored disk is not sparse"

run "$SMOLC" images
expect_rc 0 images
assert_match "$OUT" "^NAME +TAG +ARCH +SIZE +CREATED +IMAGE KEY" "images header"
assert_match "$OUT" "^demo +latest +amd64 +[0-9.]+ [KMG]iB +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} +${key:0:12}$" "images row"

# -t NAME:TAG, the same image: stored once
run "$SMOLC" build -q -o out -t reg.example:5000/team/demo:v1
expect_rc 0 "build -t"
assert_eq 1 "$(ls "$SMOLC_DATA/images" | wc -l)" "images stored"
run "$SMOLC" images --json
expect_rc 0 "images --json"
python3 - "$OUT" "$key" <<'PY' || fail "images --json: $OUT"
import json, sys
a = json.loads(sys.argv[1]); key = sys.argv[2]
names = [(e["name"], e["tag"]) for e in a]
assert names == [("demo", "latest"), ("reg.example:5000/team/demo", "v1")], names
for e in a:
    assert e["ok"] and e["key"] == key and e["id"] == key and e["arch"] == "amd64" and e["service"] == "demo", e
    assert e["size"] > 0 and e["created"].endswith("Z") and e["source"] == "build", e
PY

# bad names: usage errors before anything is built
run "$SMOLC" build -o out -t 'Bad Name'
expect_rc 2 "build -t with a blank"
assert_contains "$OUT" "'Bad Name' is not a valid image name" "bad -t"

# tag, rmi
run "$SMOLC" tag demo other:x
expect_rc 0 tag
assert_contains "$OUT" "tagged demo:latest as other:x" "tag message"
run "$SMOLC" tag nosuch other:y
expect_rc 1 "tag of a missing image"
assert_contains "$OUT" "no image nosuch:latest in the store" "tag missing"
run "$SMOLC" rmi demo
expect_rc 0 "rmi demo"
assert_eq "smolc: untagged demo:latest" "$OUT" "rmi keeps an image other tags name"
[ -d "$d" ] || fail "image removed while tagged"
run "$SMOLC" rmi demo
expect_rc 1 "rmi twice"
assert_contains "$OUT" "no image demo:latest in the store" "rmi twice"

# run by name from another directory: the stored files, disk in snapshot mode
mkdir -p "$TEST_TMP/elsewhere"
cd "$TEST_TMP/elsewhere"
run "$SMOLC" run --dry-run --accel tcg other:x
expect_rc 0 "run --dry-run other:x"
assert_contains "$OUT" "-kernel $d/kernel" "kernel from the store"
assert_contains "$OUT" "file=$d/disk.img,format=raw,id=hd0,snapshot=on" "disk from the store, never written"
run "$SMOLC" run --dry-run --accel tcg nosuch:tag
expect_rc 1 "run of an unknown name"
assert_contains "$OUT" "no image of that name in the image store" "run unknown"

# damaged entries are refused: an edited run config, a changed disk
cp "$d/run.yaml" "$TEST_TMP/run.yaml.bak"
echo "memory: 4096" >>"$d/run.yaml"
run "$SMOLC" run --dry-run --accel tcg other:x
expect_rc 1 "run of an edited entry"
assert_contains "$OUT" "the run config does not match the digest recorded in the store" "edited run config"
cp "$TEST_TMP/run.yaml.bak" "$d/run.yaml"
printf 'x' | dd of="$d/disk.img" bs=1 seek=4096 conv=notrunc status=none
run "$SMOLC" run --dry-run --accel tcg other:x
expect_rc 1 "run of a changed disk"
assert_contains "$OUT" "disk image was changed after it was stored" "changed disk"
run "$SMOLC" images
assert_match "$OUT" "other +x +damaged: " "images shows the damage"
# a rebuild replaces the damaged entry
cd "$TEST_TMP/ctx"
run "$SMOLC" build -q -o out -t other:x
expect_rc 0 "rebuild"
assert_same_file out/demo-amd64.img "$d/disk.img" "repaired disk"

# READONLY: the disk is hard-linked (no VM writes it)
echo READONLY >>Smolfile
run "$SMOLC" build -o out
expect_rc 0 "readonly build"
key2=$(printf '%s\n' "$OUT" | sed -n 's/^  key     //p')
assert_eq "$(stat -c %i out/demo-amd64.img)" "$(stat -c %i "$SMOLC_DATA/images/$key2/disk.img")" "readonly disk inode"

# an edit-build loop leaves no untagged image behind: the image a tag
# named before goes when no other tag names it (key2 goes at the first
# edit; key stays, other:x and …/demo:v1 name it)
for i in 1 2 3; do
	sed -i "s/^echo hi.*/echo hi $i/" Smolfile
	run "$SMOLC" build -q -o out
	expect_rc 0 "edit $i"
done
assert_eq 2 "$(ls "$SMOLC_DATA/images" | wc -l)" "images after three edits"
[ ! -e "$SMOLC_DATA/images/$key2" ] || fail "the untagged readonly image was left behind"
[ -e "$d" ] || fail "an image that two tags name was deleted"

# rmi of every tag deletes the image
run "$SMOLC" rmi demo other:x reg.example:5000/team/demo:v1
expect_rc 0 "rmi all"
assert_contains "$OUT" "untagged demo:latest; image deleted" "readonly image deleted"
assert_contains "$OUT" "untagged reg.example:5000/team/demo:v1; image deleted" "image deleted"
[ ! -e "$d" ] || fail "image left after its last tag went"
assert_eq "" "$(ls "$SMOLC_DATA/tmp")" "store tmp/"

# a store that cannot be written: a warning without -t (the files were
# asked for and are there), an error with -t (the name was asked for)
: >"$TEST_TMP/not-a-dir"
run env SMOLC_DATA="$TEST_TMP/not-a-dir/data" "$SMOLC" build -o out2
expect_rc 0 "build with an unwritable store, no -t"
assert_contains "$OUT" "warning: the image was not recorded in the image store:" "warning"
assert_file out2/demo-amd64.img
run env SMOLC_DATA="$TEST_TMP/not-a-dir/data" "$SMOLC" build -o out2 -t demo:x
expect_rc 1 "build with an unwritable store and -t"
assert_contains "$OUT" "error: recording the image in the image store:" "error"
echo ok
