#!/bin/bash
# The image store keeps a recipe's INITRD: images/<id>/initrd, named by the
# stored run config, checked like the kernel (a changed initrd is refused,
# not booted); `smolc run NAME` passes it to QEMU; push sends it as a layer
# of media type application/vnd.smolc.initrd and pull brings it back.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker
demo_recipe ctx
cd ctx
head -c 50000 /dev/urandom >initrd.img
sed -i 's|^KERNEL ./kern$|KERNEL ./kern\nINITRD ./initrd.img|' Smolfile
grep -q '^INITRD ./initrd.img$' Smolfile || fail "recipe edit"

run "$SMOLC" build -o out -t withinitrd:1
expect_rc 0 build
assert_not_contains "$OUT" "does not keep the INITRD" "no warning any more"
key=$(printf '%s\n' "$OUT" | sed -n 's/^  key     //p')
d=$SMOLC_DATA/images/$key
assert_same_file initrd.img "$d/initrd" "stored initrd"
assert_contains "$(cat "$d/run.yaml")" 'initrd: "initrd"' "stored run config names it"
python3 - "$d/meta" <<'PY' || fail "meta has no initrd identity"
import json, sys
t = open(sys.argv[1]).read()
m = json.loads(t[:t.rindex("\nsum ")])
assert set(m["initrd"]) >= {"size", "ino", "mtime_ns"}, m
assert m["initrd"]["size"] == 50000, m
PY

mkdir -p ../elsewhere && cd ../elsewhere
run "$SMOLC" run --dry-run withinitrd:1
expect_rc 0 "run --dry-run NAME"
assert_contains "$OUT" "-initrd $d/initrd " "the stored initrd is booted"

# push / rmi / pull: the initrd travels as its own layer
reg_start plain
run "$SMOLC" push withinitrd:1 "$REG/smol/initrd"
expect_rc 0 push
assert_match "$OUT" "demo-amd64.initrd +48[.0-9]* KiB" "the initrd blob is sent"
skopeo inspect --tls-verify=false --raw "docker://$REG/smol/initrd:1" >manifest.json || fail "skopeo inspect"
python3 - manifest.json "$(sha256sum ../ctx/initrd.img | cut -d' ' -f1)" <<'PY' || fail "manifest: $(cat manifest.json)"
import json, sys
m = json.load(open(sys.argv[1]))
l = [x for x in m["layers"] if x["mediaType"] == "application/vnd.smolc.initrd"]
assert len(l) == 1 and l[0]["digest"] == "sha256:" + sys.argv[2], m["layers"]
assert l[0]["annotations"]["org.opencontainers.image.title"] == "demo-amd64.initrd"
PY
run "$SMOLC" rmi withinitrd:1
expect_rc 0 rmi
run "$SMOLC" pull "$REG/smol/initrd:1"
expect_rc 0 pull
assert_same_file ../ctx/initrd.img "$d/initrd" "pulled initrd"
run "$SMOLC" run --dry-run "$REG/smol/initrd:1"
expect_rc 0 "run --dry-run of the pulled image"
assert_contains "$OUT" "-initrd $d/initrd " "the pulled initrd is booted"

# a changed initrd is refused (the identity recorded in meta)
touch -d '2001-01-01' "$d/initrd"
run "$SMOLC" run --dry-run "$REG/smol/initrd:1"
expect_rc 1 "run of a changed initrd"
assert_contains "$OUT" "the initrd was changed after it was stored" "the message names it"
echo ok
