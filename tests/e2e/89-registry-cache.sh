#!/bin/bash
# The remote layer cache (SPEC §8.5) against a real registry (Debian's
# docker-registry on 127.0.0.1), checked with skopeo and zstd:
#   - build --cache-to pushes one zstd blob per layer and a cache manifest
#     whose annotations map each layer key to its blob (and layer digest);
#     a second --cache-to uploads nothing;
#   - a fresh SMOLC_CACHE with --cache-from: every step CACHED (remote),
#     the image byte-identical, the fetched layers pass `cache verify`;
#   - a changed RC: only the rc step builds (with a warning naming the
#     cache that lacks it);
#   - registry down: one warning, a normal build (exit 0);
#   - a tampered blob, or an index naming another layer's blob: the layer
#     is refused (warning), the step builds, nothing is left in the cache;
#   - through tests/lib/regproxy.py: a 500 is retried; the bearer-token
#     flow (a warning without credentials, fetch and export with them);
#   - --cache-to to a registry that is down: exit 1 after the image is
#     written, naming the registry and what to do; a bad reference: exit 2.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
command -v zstd >/dev/null || skip "zstd is not installed (tests/deps.sh)"
export SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker
reg_start plain
C=$REG/ci/cache:main

demo_recipe ctx
cd ctx
# the build's steps and keys, from --json
keys() { python3 -c 'import json,sys; print(" ".join(s["layer"] for s in json.load(open(sys.argv[1]))["steps"]))' "$1"; }
remote_flags() { python3 -c 'import json,sys; print(" ".join(str(s["remote"]).lower() for s in json.load(open(sys.argv[1]))["steps"]))' "$1"; }

# ---- export ----
run env SMOLC_CACHE="$TEST_TMP/c1" "$SMOLC" build -o out1 --cache-to "$C"
expect_rc 0 "build --cache-to"
assert_contains "$OUT" "exporting the build cache to $C" "export announced"
assert_match "$OUT" "RC /etc/rc +[0-9.]+ (B|KiB) sha256:[0-9a-f]{12}… uploaded" "rc layer uploaded"
assert_match "$OUT" "exported 4 layers to $C@sha256:[0-9a-f]{64} \(4 uploaded, 4 in all\)" "export summary"
SMOLC_CACHE=$TEST_TMP/c1 "$SMOLC" build -q -o out1 --json >b1.json || fail "build --json"
read -r -a K <<<"$(keys b1.json)"
[ "${#K[@]}" -eq 4 ] || fail "expected 4 steps: ${K[*]}"

skopeo inspect --tls-verify=false --raw "docker://$C" >cache.json || fail "skopeo inspect"
python3 - cache.json "$TEST_TMP/c1/layers" "${K[@]}" <<'PY' || fail "cache manifest: $(cat cache.json)"
import json, sys
m = json.load(open(sys.argv[1])); layers_dir = sys.argv[2]; keys = sys.argv[3:]
assert m["schemaVersion"] == 2 and m["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m
assert m["artifactType"] == "application/vnd.smolc.cache.v1", m
assert m["config"]["mediaType"] == "application/vnd.oci.empty.v1+json", m["config"]
L = m["layers"]
assert [l["annotations"]["dev.smolc.layer.key"] for l in L] == keys, (L, keys)
assert [l["annotations"]["dev.smolc.layer.title"] for l in L] == \
    ["FROM scratch", "COPY f /etc/f", "gen /etc/fstab /etc/include", "RC /etc/rc"], L
for l, k in zip(L, keys):
    assert l["mediaType"] == "application/vnd.smolc.layer.v1+zstd", l
    info = dict(x.split(" ", 1) for x in open(f"{layers_dir}/{k}/info").read().splitlines())
    assert l["annotations"]["dev.smolc.layer.digest"] == info["digest"], (l, info)
PY
# the blobs, fetched by an independent client: zstd streams of the layer
skopeo copy -q --src-tls-verify=false "docker://$C" "dir:$TEST_TMP/sk" || fail "skopeo copy"
rd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][3]["digest"][7:])' cache.json)
[ "$(sha256sum "$TEST_TMP/sk/$rd" | cut -d' ' -f1)" = "$rd" ] || fail "blob digest"
zstd -dcq "$TEST_TMP/sk/$rd" >rc.layer || fail "the rc blob is not a zstd stream"
assert_eq "smolc-layer-blob 1" "$(head -n 1 rc.layer)" "blob header"
assert_contains "$(cat rc.layer)" "digest $(sed -n 's/^digest //p' "$TEST_TMP/c1/layers/${K[3]}/info")" "blob names its layer"
cmp -s <(tail -c "+$(($(grep -abn '^$' rc.layer | head -1 | cut -d: -f2) + 2))" rc.layer | head -c "$(stat -c %s "$TEST_TMP/c1/layers/${K[3]}/entries")") \
	"$TEST_TMP/c1/layers/${K[3]}/entries" || fail "the blob carries the entry list"

# again: the registry has every blob
run env SMOLC_CACHE="$TEST_TMP/c1" "$SMOLC" build -o out1 --cache-to "$C"
expect_rc 0 "second --cache-to"
assert_contains "$OUT" "(0 uploaded, 4 in all)" "nothing uploaded again"
if grep -qE '… uploaded$' <<<"$OUT"; then fail "a blob was uploaded again: $OUT"; fi

# an up-to-date image whose layers were pruned: they are made again and exported
SMOLC_CACHE=$TEST_TMP/c1 "$SMOLC" cache prune --all >/dev/null || fail "prune"
run env SMOLC_CACHE="$TEST_TMP/c1" "$SMOLC" build -o out1 --cache-to "$C"
expect_rc 0 "--cache-to after a prune"
assert_contains "$OUT" "(0 uploaded, 4 in all)" "exported again"
assert_not_contains "$OUT" "image up to date" "not taken as up to date"

# ---- a fresh machine: every step from the remote cache ----
run env SMOLC_CACHE="$TEST_TMP/c2" "$SMOLC" build -o out2 --cache-from "$C"
expect_rc 0 "fresh cache --cache-from"
for t in "FROM scratch" "COPY f /etc/f" "gen /etc/fstab /etc/include" "RC /etc/rc"; do
	assert_match "$OUT" "\] $t +CACHED \(remote\)" "$t from the remote cache"
done
assert_contains "$OUT" "4 steps, 4 cached (4 from the remote cache)" "summary"
assert_not_contains "$OUT" "warning" "no warning"
assert_same_file out1/demo-amd64.img out2/demo-amd64.img "byte-identical image"
run env SMOLC_CACHE="$TEST_TMP/c2" "$SMOLC" cache verify
expect_rc 0 "fetched layers verify"
assert_contains "$OUT" "checked 4 entries, 0 damaged" "verify"
[ -z "$(ls -A "$TEST_TMP/c2/tmp")" ] || fail "temp entries left: $(ls "$TEST_TMP/c2/tmp")"
# and now they are local: plain CACHED, no registry needed
run env SMOLC_CACHE="$TEST_TMP/c2" "$SMOLC" build -o out2b --cache-from "127.0.0.1:1/nothing"
expect_rc 0 "local after remote"
assert_contains "$OUT" "4 steps, 4 cached, " "all local"
assert_not_contains "$OUT" "warning" "the registry is not asked when nothing is missing"
# --json says which came from where
SMOLC_CACHE=$TEST_TMP/c3 "$SMOLC" build -q -o out3 --json --cache-from "$C" >b3.json || fail "--json"
assert_eq "true true true true" "$(remote_flags b3.json)" "--json remote flags"

# ---- a changed RC: only the rc step builds ----
sed -i 's/echo hi/echo changed/' Smolfile
run env SMOLC_CACHE="$TEST_TMP/c4" "$SMOLC" build -o out4 --cache-from "$C"
expect_rc 0 "changed RC"
assert_match "$OUT" "\] FROM scratch +CACHED \(remote\)" "base from the remote cache"
assert_match "$OUT" "\] COPY f /etc/f +CACHED \(remote\)" "COPY from the remote cache"
assert_match "$OUT" "\] RC /etc/rc +built in" "rc built"
assert_contains "$OUT" "3 cached (3 from the remote cache)" "summary"
assert_match "$OUT" "warning: RC /etc/rc: the layer [0-9a-f]{12} is not in the remote cache \($C\); building it" "miss named"
sed -i 's/echo changed/echo hi/' Smolfile

# ---- registry down: a warning and a normal build ----
down=127.0.0.1:$(free_port)
run env SMOLC_CACHE="$TEST_TMP/c5" "$SMOLC" build -o out5 --cache-from "$down/ci/cache:main"
expect_rc 0 "registry down"
assert_contains "$OUT" "warning: FROM scratch: --cache-from $down/ci/cache:main: GET http" "warning names the cache"
assert_contains "$OUT" "is the registry running?; building it" "says why"
assert_lines 1 "$(printf '%s\n' "$OUT" | grep warning)" "one warning, not one per step"
assert_contains "$OUT" "4 steps, 0 cached" "built"
assert_same_file out1/demo-amd64.img out5/demo-amd64.img "same image"
# a cache that does not exist yet: a warning too
run env SMOLC_CACHE="$TEST_TMP/c5b" "$SMOLC" build -o out5b --cache-from "$REG/ci/cache:nope"
expect_rc 0 "no such cache"
assert_contains "$OUT" "--cache-from $REG/ci/cache:nope: $REG/ci/cache:nope has no build cache yet (manifest unknown)" "no cache yet"

# ---- a tampered blob in the registry: refused, the step builds ----
copy_digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][1]["digest"][7:])' cache.json)
blob=$REG_DIR/data/docker/registry/v2/blobs/sha256/${copy_digest:0:2}/$copy_digest/data
assert_file "$blob"
cp "$blob" blob.orig
python3 - "$blob" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-3] ^= 0x55; open(p, "wb").write(b)
PY
run env SMOLC_CACHE="$TEST_TMP/c6" "$SMOLC" build -o out6 --cache-from "$C"
expect_rc 0 "tampered blob"
assert_match "$OUT" "warning: COPY f /etc/f: the layer [0-9a-f]{12} from --cache-from $C was refused: .*; building it" "refused"
assert_match "$OUT" "\] COPY f /etc/f +built in" "COPY built"
assert_match "$OUT" "\] RC /etc/rc +CACHED \(remote\)" "others still from the remote cache"
assert_same_file out1/demo-amd64.img out6/demo-amd64.img "same image"
[ -z "$(ls -A "$TEST_TMP/c6/tmp")" ] || fail "temp entries left: $(ls "$TEST_TMP/c6/tmp")"
run env SMOLC_CACHE="$TEST_TMP/c6" "$SMOLC" cache verify
expect_rc 0 "verify after a refused layer"
cp blob.orig "$blob"

# ---- an index naming another layer's blob: refused by the layer digest ----
python3 - cache.json swapped.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
a, b = m["layers"][1], m["layers"][3]           # COPY and RC: swap their blobs
for f in ("digest", "size"):
    a[f], b[f] = b[f], a[f]
json.dump(m, open(sys.argv[2], "w"))
PY
reg_put_manifest "$REG_URL" ci/cache swapped swapped.json
run env SMOLC_CACHE="$TEST_TMP/c7" "$SMOLC" build -o out7 --cache-from "$REG/ci/cache:swapped"
expect_rc 0 "wrong blob"
assert_match "$OUT" "warning: COPY f /etc/f: the layer [0-9a-f]{12} from --cache-from $REG/ci/cache:swapped was refused: .*the cache index says sha256:" "COPY refused"
assert_match "$OUT" "warning: RC /etc/rc: the layer [0-9a-f]{12} from --cache-from $REG/ci/cache:swapped was refused" "RC refused"
assert_match "$OUT" "\] FROM scratch +CACHED \(remote\)" "the right ones are used"
assert_same_file out1/demo-amd64.img out7/demo-amd64.img "same image"
# several --cache-from: the first that has a layer gives it
run env SMOLC_CACHE="$TEST_TMP/c8" "$SMOLC" build -o out8 --cache-from "$REG/ci/cache:nope" --cache-from "$C"
expect_rc 0 "two --cache-from"
assert_contains "$OUT" "4 cached (4 from the remote cache)" "the second cache serves"

# ---- through a proxy: a 500 is retried; the bearer-token flow ----
proxy_start flaky --fail-blob-gets 1
run env SMOLC_CACHE="$TEST_TMP/c10" "$SMOLC" build -o out10 --cache-from "$PROXY/ci/cache:main"
expect_rc 0 "a 500 on a layer"
assert_contains "$OUT" "HTTP 500 (UNKNOWN: injected failure); retrying (2/3)" "retried"
assert_contains "$OUT" "4 cached (4 from the remote cache)" "then fetched"
proxy_start bearer --bearer ci:t0ken-pw
run env SMOLC_CACHE="$TEST_TMP/c11" "$SMOLC" build -o out11 --cache-from "$PROXY/ci/cache:main"
expect_rc 0 "bearer without credentials"
assert_contains "$OUT" "the token server refused an anonymous request (HTTP 401); log in with smolc login; building it" "a warning"
assert_contains "$OUT" "4 steps, 0 cached" "built"
printf 't0ken-pw\n' | "$SMOLC" login -u ci --password-stdin "$PROXY" >/dev/null 2>&1 || fail "login"
run env SMOLC_CACHE="$TEST_TMP/c12" "$SMOLC" build -o out12 --cache-from "$PROXY/ci/cache:main" --cache-to "$PROXY/ci/cache:other"
expect_rc 0 "bearer with credentials"
assert_contains "$OUT" "4 cached (4 from the remote cache)" "fetched with a token"
assert_contains "$OUT" "(0 uploaded, 4 in all)" "exported with a token"
grep -qF "PUT /v2/ci/cache/manifests/other 201" "$PROXY_LOG" || fail "no manifest pushed: $(cat "$PROXY_LOG")"

# ---- --cache-to failures ----
run env SMOLC_CACHE="$TEST_TMP/c1" "$SMOLC" build -o out9 --cache-to "$down/ci/cache:main"
expect_rc 1 "--cache-to a registry that is down"
assert_contains "$OUT" "error: --cache-to $down/ci/cache:main: GET http" "error names the registry"
assert_contains "$OUT" "the image was written (out9/demo-amd64.img); check that the registry is up and that you may push there" "says what to do"
assert_file out9/demo-amd64.img
run "$SMOLC" build -o out9 --cache-to "not a ref"
expect_rc 2 "bad --cache-to"
assert_contains "$OUT" "smolc: build: --cache-to not a ref:" "bad reference named"
run "$SMOLC" build -o out9 --cache-to "$REG/ci/cache@sha256:$(printf '%064d' 0)"
expect_rc 2 "--cache-to a digest"
assert_contains "$OUT" "give a tag to push the cache to, not a digest" "digest refused"
run "$SMOLC" build -o out9 --cache-from "nohost"
expect_rc 2 "bad --cache-from"
echo ok
