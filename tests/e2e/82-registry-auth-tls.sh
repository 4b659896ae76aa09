#!/bin/bash
# Registry authentication and TLS, with real components:
#   - docker-registry with htpasswd (htpasswd -B) basic auth behind TLS from
#     a CA made here with openssl: without --ca-cert the certificate does not
#     verify (clear error, no fallback to http); without credentials 401 says
#     to log in; smolc login checks and stores them in $DOCKER_CONFIG/config.json
#     (0600, base64 user:password, as docker does) and never prints the
#     password; then push and pull work; a wrong password is refused;
#   - the bearer-token flow (WWW-Authenticate: Bearer realm/service/scope)
#     through tests/lib/regproxy.py in front of a plain registry;
#   - credentials read from an existing docker config.json.
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/lib/registry.sh"
reg_have
command -v htpasswd >/dev/null || skip "htpasswd (apache2-utils) is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data DOCKER_CONFIG=$TEST_TMP/docker

make_ca ca
htpasswd -Bbc htpasswd alice 's3cret-pw' 2>/dev/null
reg_start tls --htpasswd "$PWD/htpasswd" --tls "$PWD/ca/server.pem" "$PWD/ca/server.key"
demo_recipe ctx
(cd ctx && "$SMOLC" build -q -o out -t demo) || fail build

# TLS that does not verify: an error naming --ca-cert, never plain http
run "$SMOLC" push demo "$REG/team/demo"
expect_rc 1 "push without the CA"
assert_contains "$OUT" "the TLS certificate of $REG does not verify" "unverified TLS"
assert_contains "$OUT" "give its CA with --ca-cert FILE" "hint"
# 401 without credentials
run "$SMOLC" push --ca-cert ca/ca.pem demo "$REG/team/demo"
expect_rc 1 "push without credentials"
assert_contains "$OUT" "$REG: HTTP 401 Unauthorized: the registry needs credentials; run smolc login $REG" "401"
# login: a wrong password, then the right one
run sh -c "printf 'nope\n' | '$SMOLC' login --ca-cert ca/ca.pem -u alice --password-stdin $REG"
expect_rc 1 "login with a wrong password"
assert_contains "$OUT" "refused the credentials of alice" "wrong password"
assert_no_file "$DOCKER_CONFIG/config.json"
run sh -c "printf 's3cret-pw\n' | '$SMOLC' login --ca-cert ca/ca.pem -u alice --password-stdin $REG"
expect_rc 0 "login"
assert_contains "$OUT" "login succeeded; credentials for $REG stored in $DOCKER_CONFIG/config.json" "login message"
assert_not_contains "$OUT" "s3cret" "login prints no password"
assert_eq 600 "$(stat -c %a "$DOCKER_CONFIG/config.json")" "config.json mode"
python3 - "$DOCKER_CONFIG/config.json" "$REG" <<'PY' || fail "config.json: $(cat "$DOCKER_CONFIG/config.json")"
import base64, json, sys
a = json.load(open(sys.argv[1]))["auths"][sys.argv[2]]["auth"]
assert base64.b64decode(a) == b"alice:s3cret-pw"
PY
# push and pull with the stored credentials, over verified TLS
run "$SMOLC" --debug push --ca-cert ca/ca.pem demo "$REG/team/demo:v1"
expect_rc 0 "push with credentials"
assert_contains "$OUT" "registry: PUT https://$REG/v2/team/demo/manifests/v1" "over https"
assert_not_contains "$OUT" "s3cret" "no password in --debug output"
mkdir -p certs && cp ca/ca.pem certs/ca.crt
skopeo inspect --cert-dir certs --creds alice:s3cret-pw --raw "docker://$REG/team/demo:v1" >/dev/null 2>sk.err ||
	fail "skopeo (verifying TLS with the test CA) sees no image: $(cat sk.err)"
"$SMOLC" rmi demo >/dev/null
run "$SMOLC" pull --ca-cert ca/ca.pem "$REG/team/demo:v1"
expect_rc 0 "pull with credentials"
assert_contains "$OUT" "pulled $REG/team/demo:v1" "pulled"
reg_stop

# credentials from an existing docker config (written by docker, not smolc)
reg_start basic --htpasswd "$PWD/htpasswd"
mkdir -p dc2
printf '{"auths":{"http://%s":{"auth":"%s"}},"credsStore":""}\n' "$REG" "$(printf 'alice:s3cret-pw' | base64)" >dc2/config.json
run env DOCKER_CONFIG=$PWD/dc2 "$SMOLC" push "$REG/team/demo:v1" "$REG/team/demo:v1"
expect_rc 1 "push of a name not in the store"
run env DOCKER_CONFIG=$PWD/dc2 "$SMOLC" pull "$REG/team/demo:v1"
expect_rc 1 "pull from an empty registry"
assert_contains "$OUT" "the registry has no such image" "authenticated, then 404"
(cd ctx && "$SMOLC" build -q -o out -t "$REG/team/demo:v2") || fail build2
"$SMOLC" tag "$REG/team/demo:v2" demo:v2 2>/dev/null
run env DOCKER_CONFIG=$PWD/dc2 "$SMOLC" push "$REG/team/demo:v2"
expect_rc 0 "push with docker's config.json"
reg_stop

# the bearer-token flow
reg_start plain
proxy_start bearer --bearer alice:s3cret-pw
run "$SMOLC" push demo:v2 "$PROXY/team/demo:v2"
expect_rc 1 "bearer without credentials"
assert_contains "$OUT" "$PROXY: the token server refused an anonymous request (HTTP 401); log in with smolc login" "anonymous token"
printf 's3cret-pw\n' | "$SMOLC" login -u alice --password-stdin "$PROXY" >/dev/null 2>&1 || fail "login (bearer)"
run "$SMOLC" push demo:v2 "$PROXY/team/demo:v2"
expect_rc 0 "push with a token"
grep -qiF "GET /token?service=smolc-test&scope=repository%3Ateam%2Fdemo%3Apull%2Cpush 200" "$PROXY_LOG" ||
	fail "token not asked with the push scope: $(cat "$PROXY_LOG")"
run "$SMOLC" pull "$PROXY/team/demo:v2"
expect_rc 0 "pull with a token"
grep -qiF "GET /token?service=smolc-test&scope=repository%3Ateam%2Fdemo%3Apull 200" "$PROXY_LOG" ||
	fail "pull token not asked with the pull scope: $(cat "$PROXY_LOG")"
assert_match "$(cat "$PROXY_LOG")" "GET /v2/team/demo/blobs/sha256:[0-9a-f]{64} 200" "blobs through the proxy"
echo ok
