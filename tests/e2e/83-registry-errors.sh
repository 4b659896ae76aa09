#!/bin/bash
# Registry failures give one clear line and leave nothing half-stored:
# the registry down (connection refused); HTTP 500s (retried: a passing
# fault is survived, a lasting one is an error); a blob whose bytes do not
# match its digest (the registry's storage corrupted behind its back); a
# push to a registry that goes away.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker
store_clean() { # nothing half-stored: no temp files, only the images expected
	assert_eq "" "$(ls "$SMOLC_DATA/tmp")" "store tmp/ after $1"
	assert_eq "$2" "$(ls "$SMOLC_DATA/images" | wc -l)" "images in the store after $1"
}

demo_recipe ctx
(cd ctx && "$SMOLC" build -q -o out -t demo) || fail build
dead=127.0.0.1:$(free_port)
run "$SMOLC" push demo "$dead/smol/demo"
expect_rc 1 "push to a registry that is down"
assert_contains "$OUT" "smolc: push: HEAD https://$dead/v2/smol/demo/blobs/sha256:" "names the request"
assert_contains "$OUT" "connection refused by $dead — is the registry running?" "registry down"
run "$SMOLC" pull "$dead/smol/demo"
expect_rc 1 "pull from a registry that is down"
assert_contains "$OUT" "connection refused by $dead — is the registry running?" "registry down (pull)"
store_clean "a dead registry" 1

reg_start plain
run "$SMOLC" push demo "$REG/smol/demo"
expect_rc 0 push
"$SMOLC" rmi demo 2>/dev/null
store_clean "rmi" 0

# a 500 that passes: retried, then pulled
proxy_start flaky --fail-blob-gets 1
run "$SMOLC" pull "$PROXY/smol/demo"
expect_rc 0 "pull through one 500"
assert_contains "$OUT" "HTTP 500 (UNKNOWN: injected failure); retrying (2/3)" "retry announced"
"$SMOLC" rmi "$PROXY/smol/demo" 2>/dev/null
store_clean "a retried pull" 0
# a lasting 500: three tries, an error, nothing stored
proxy_start broken --fail-all-blob-gets
run "$SMOLC" pull "$PROXY/smol/demo"
expect_rc 1 "pull through lasting 500s"
assert_contains "$OUT" "retrying (3/3)" "all tries used"
assert_match "$OUT" "smolc: pull: GET http://$PROXY/v2/smol/demo/blobs/sha256:[0-9a-f]{64}: HTTP 500 \(UNKNOWN: injected failure\)$" "500 error"
store_clean "a failed pull" 0

# a blob with wrong content: the registry serves other bytes for the digest
disk=$(skopeo inspect --tls-verify=false --raw "docker://$REG/smol/demo:latest" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"][7:])')
data=$REG_DIR/data/docker/registry/v2/blobs/sha256/${disk:0:2}/$disk/data
assert_file "$data"
printf 'X' | dd of="$data" bs=1 seek=100000 conv=notrunc status=none
run "$SMOLC" pull "$REG/smol/demo"
expect_rc 1 "pull of a corrupted blob"
assert_contains "$OUT" "smolc: pull: GET http://$REG/v2/smol/demo/blobs/sha256:$disk: sha256 mismatch: expected sha256:$disk, got sha256:" "digest mismatch"
assert_contains "$OUT" "(download discarded)" "discarded"
store_clean "a corrupted blob" 0
run "$SMOLC" images
assert_lines 1 "$OUT" "images: only the header"
http_stop
echo ok
