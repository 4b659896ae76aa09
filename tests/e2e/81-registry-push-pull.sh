#!/bin/bash
# push and pull against a real registry (Debian's docker-registry, plain
# http on 127.0.0.1), checked with an independent client (skopeo):
#   - the manifest smolc pushes is the anchor's (oras) artifact plus smolc's
#     kernel and run-config layers, every digest the stored files' sha256;
#   - a second push sends nothing (HEAD first), a push to another repository
#     mounts the blobs, a --chunk-size push uploads in chunks;
#   - rmi + pull gives back the same image key and the same disk bytes,
#     runnable by name; pull by digest;
#   - an artifact pushed the way oras does (built here with curl: empty
#     config, one application/x-raw-disk-image layer) is pulled with the
#     catalog's kernel and a default run config, and smolc says so.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker
reg_start plain

demo_recipe ctx
(cd ctx && "$SMOLC" build -q -o out -t demo:v1) || fail "build"
key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["key"])' <<<"$("$SMOLC" images --json)")
D=$SMOLC_DATA/images/$key

run "$SMOLC" push demo:v1 "$REG/smol/demo"
expect_rc 0 "push"
assert_contains "$OUT" "pushing demo:v1 (${key:0:12}) to $REG/smol/demo:v1" "push says what"
assert_match "$OUT" "demo-amd64.img +[0-9.]+ [KMG]iB +sha256:[0-9a-f]{12}… uploaded" "disk uploaded"
assert_match "$OUT" "pushed $REG/smol/demo:v1@sha256:[0-9a-f]{64}" "push result"

# what an independent client sees
skopeo inspect --tls-verify=false --raw "docker://$REG/smol/demo:v1" >manifest.json || fail "skopeo inspect"
python3 - manifest.json "$(sha256sum "$D/disk.img" | cut -d' ' -f1)" "$(sha256sum "$D/kernel" | cut -d' ' -f1)" \
	"$(stat -c %s "$D/disk.img")" "$key" <<'PY' || fail "manifest: $(cat manifest.json)"
import json, sys
m = json.load(open(sys.argv[1])); disk, kern, size, key = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
assert m["schemaVersion"] == 2 and m["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m
assert m["artifactType"] == "application/vnd.smolbsd.image", m
c = m["config"]
assert c["mediaType"] == "application/vnd.oci.empty.v1+json" and c["size"] == 2, c
assert c["digest"] == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", c
L = m["layers"]
assert [l["mediaType"] for l in L] == ["application/x-raw-disk-image", "application/vnd.smolc.kernel",
                                       "application/vnd.smolc.runconfig.v1+yaml"], L
assert [l["annotations"]["org.opencontainers.image.title"] for l in L] == ["demo-amd64.img", "demo-amd64.kernel", "demo-amd64.yaml"], L
assert L[0]["digest"] == "sha256:" + disk and L[0]["size"] == size, L[0]
assert L[1]["digest"] == "sha256:" + kern, L[1]
assert m["annotations"]["dev.smolc.image.key"] == key, m["annotations"]
PY
# the run-config layer, fetched with skopeo, names the titled files
skopeo copy -q --src-tls-verify=false "docker://$REG/smol/demo:v1" "dir:$TEST_TMP/sk" || fail "skopeo copy"
yd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][2]["digest"][7:])' manifest.json)
assert_contains "$(cat "$TEST_TMP/sk/$yd")" 'image: "demo-amd64.img"' "pushed run config"
assert_contains "$(cat "$TEST_TMP/sk/$yd")" 'kernel: "demo-amd64.kernel"' "pushed run config"
assert_contains "$(cat "$TEST_TMP/sk/$yd")" "build_key: \"$key\"" "pushed run config"

# again: HEAD finds everything
"$SMOLC" push -q --json demo:v1 "$REG/smol/demo" >push.json || fail "second push"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [b["action"] for b in d["blobs"]] == ["exists"]*4, d' \
	push.json || fail "second push sent blobs: $(cat push.json)"
# another repository of the same registry: mounted, not uploaded
run "$SMOLC" push demo:v1 "$REG/other/demo:x"
expect_rc 0 "push to another repository"
assert_match "$OUT" "demo-amd64.img .* mounted" "cross-repository mount"
assert_not_contains "$OUT" "uploaded" "nothing uploaded when mounting"

# a changed image, in chunks of 1 MiB
(cd ctx && echo changed >f && "$SMOLC" build -q -o out -t demo:v2) || fail "build v2"
run "$SMOLC" push --chunk-size 1M demo:v2 "$REG/smol/chunked"
expect_rc 0 "chunked push"
assert_match "$OUT" "demo-amd64.img .* uploaded" "chunked upload"
skopeo inspect --tls-verify=false --raw "docker://$REG/smol/chunked:v2" >/dev/null || fail "skopeo: chunked image"

# rmi + pull: the same key, the same bytes, runnable by name from anywhere
cp --sparse=always "$D/disk.img" orig.img
run "$SMOLC" rmi demo:v1
expect_rc 0 rmi
[ ! -e "$D" ] || fail "rmi kept the image"
run "$SMOLC" pull "$REG/smol/demo:v1"
expect_rc 0 pull
assert_contains "$OUT" "pulled $REG/smol/demo:v1 as $REG/smol/demo:v1 (image key ${key:0:12})" "pull result"
assert_same_file orig.img "$D/disk.img" "pulled disk"
[ "$(stat -c %b "$D/disk.img")" -le $(( $(stat -c %b orig.img) + 64 )) ] || fail "pulled disk is not sparse"
run "$SMOLC" images --json
assert_contains "$OUT" "\"name\":\"$REG/smol/demo\",\"tag\":\"v1\",\"ok\":true,\"id\":\"$key\",\"key\":\"$key\"" "images after pull"
(cd "$TEST_TMP" && "$SMOLC" run --dry-run --accel tcg "$REG/smol/demo:v1") >dry 2>&1 || fail "run pulled: $(cat dry)"
assert_contains "$(cat dry)" "file=$D/disk.img" "run of the pulled image"
mdig=$(skopeo inspect --tls-verify=false --raw "docker://$REG/smol/demo:v1" | sha256sum | cut -d' ' -f1)
"$SMOLC" pull -q --json "$REG/smol/demo@sha256:$mdig" >pull.json || fail "pull by digest"
assert_contains "$(cat pull.json)" "\"image\":\"$REG/smol/demo:sha256-${mdig:0:12}\"" "digest pull tag"

# an artifact exactly as `oras push --artifact-type application/vnd.smolbsd.image
# bsdshell-amd64.img:application/x-raw-disk-image` makes it
python3 -c 'import sys; sys.stdout.buffer.write(bytes(4096) + b"smolBSD disk" * 5000 + bytes(8192))' >bsdshell-amd64.img
printf '{}' >empty.json
reg_put_blob "http://$REG" anchor/bsdshell empty.json
reg_put_blob "http://$REG" anchor/bsdshell bsdshell-amd64.img
cat >oras.json <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.smolbsd.image",
 "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:$(sha256sum empty.json | cut -d' ' -f1)","size":2,"data":"e30="},
 "layers":[{"mediaType":"application/x-raw-disk-image","digest":"sha256:$(sha256sum bsdshell-amd64.img | cut -d' ' -f1)",
   "size":$(stat -c %s bsdshell-amd64.img),"annotations":{"org.opencontainers.image.title":"bsdshell-amd64.img"}}],
 "annotations":{"org.opencontainers.image.created":"2026-01-02T03:04:05Z"}}
EOF
reg_put_manifest "http://$REG" anchor/bsdshell latest oras.json
# the catalog's kernel, from a local copy of the catalog pointing at a test server
mkdir -p assets dd/sets
python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF netbsd-SMOL" * 100)' >assets/netbsd-SMOL
(cd assets && sha256sum --tag netbsd-SMOL >netbsd-SMOL.sha256)
http_start assets
sed "s|https://smolbsd.org/assets|$HTTP_URL|" "$ROOT/sets/catalog.yaml" >dd/sets/catalog.yaml
run env SMOLC_DATADIR="$PWD/dd" "$SMOLC" pull "$REG/anchor/bsdshell"
expect_rc 0 "pull of an oras artifact"
assert_contains "$OUT" "$REG/anchor/bsdshell:latest has no smolc kernel or run config (a smolBSD/oras image): using the catalog's kernel $HTTP_URL/netbsd-SMOL and a default run config (service bsdshell, amd64)" "anchor pull says so"
id=$(sha256sum bsdshell-amd64.img | cut -d' ' -f1)
assert_contains "$OUT" "(disk sha256 ${id:0:12})" "anchor image id"
assert_same_file bsdshell-amd64.img "$SMOLC_DATA/images/$id/disk.img" "anchor disk"
assert_same_file assets/netbsd-SMOL "$SMOLC_DATA/images/$id/kernel" "catalog kernel"
(cd "$TEST_TMP" && "$SMOLC" run --dry-run --accel tcg "$REG/anchor/bsdshell") >dry 2>&1 || fail "run anchor: $(cat dry)"
assert_contains "$(cat dry)" "-append 'console=com root=NAME=bsdshellroot -z'" "default run config"
assert_match "$("$SMOLC" images)" "^$REG/anchor/bsdshell +latest +amd64 .* 2026-01-02 03:04 +${id:0:12} \(disk\)$" "images lists it"

# not an image
run "$SMOLC" pull "$REG/smol/nothing:here"
expect_rc 1 "pull of a missing tag"
assert_contains "$OUT" "smolc: pull: $REG/smol/nothing:here: the registry has no such image (manifest unknown)" "missing tag"
run "$SMOLC" pull "no-registry-here/x"
expect_rc 2 "pull without a registry"
assert_contains "$OUT" "'no-registry-here' is not a registry host" "bad reference"
run "$SMOLC" push demo:v2
expect_rc 2 "push without a target"
assert_contains "$OUT" "demo:v2 names no registry; give a target" "push needs a target"
assert_eq "" "$(ls "$SMOLC_DATA/tmp")" "store tmp/ after all this"
http_stop
echo ok
