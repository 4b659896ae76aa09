#!/bin/bash
# bench/registry.sh — push and pull of a ~300 MB image to a local registry
# (Debian's docker-registry on 127.0.0.1) against `skopeo copy` of the same
# content (an OCI layout dir made with skopeo from what smolc pushed).
# Target: smolc / skopeo <= 1.1 each way. Usage: bench/registry.sh [MB]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOLC=${SMOLC:-$ROOT/smolc}
MB=${1:-300}
W=$(mktemp -d "${TMPDIR:-/tmp}/smolc-regbench.XXXXXX")
trap 'kill $RP 2>/dev/null; wait $RP 2>/dev/null; rm -rf "$W"' EXIT
export SMOLC_DATA=$W/data SMOLC_CACHE=$W/cache DOCKER_CONFIG=$W/docker
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: "127.0.0.1:%s", secret: b}\n' \
	"$W/reg" "$port" >"$W/config.yml"
/usr/bin/docker-registry serve "$W/config.yml" >"$W/reg.log" 2>&1 & RP=$!
R=127.0.0.1:$port
for _ in $(seq 100); do curl -s -o /dev/null "http://$R/v2/" && break; sleep 0.1; done
mkdir -p "$W/ctx"
head -c $((MB * 1024 * 1024)) /dev/urandom >"$W/ctx/blob"
head -c 200000 /dev/urandom >"$W/ctx/kern"
printf 'FROM scratch\nSERVICE big\nPROFILE linux\nKERNEL ./kern\nCOPY blob /blob\nSIZE %dM\n' $((MB + 64)) >"$W/ctx/Smolfile"
(cd "$W/ctx" && "$SMOLC" build -q -o out -t big) 
t() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo $(( ($(date +%s%N) - s) / 1000000 )); }
# the first push of a build also computes the disk's sha256 (then remembered)
sp=$(t "$SMOLC" push -q big "$R/a/big")
HOME=$W/skhome0 skopeo copy -q --src-tls-verify=false "docker://$R/a/big:latest" "oci:$W/layout:big" 2>/dev/null
# a fresh HOME: skopeo's blob-info cache must not know where the blobs are
# (it would mount them from repository a instead of uploading)
kp=$(t env HOME="$W/skhome" skopeo copy -q --dest-tls-verify=false "oci:$W/layout:big" "docker://$R/b/big:latest")
"$SMOLC" rmi big >/dev/null 2>&1 || true
spl=$(t "$SMOLC" pull -q "$R/a/big")
kpl=$(t env HOME="$W/skhome2" skopeo copy -q --src-tls-verify=false "docker://$R/b/big:latest" "dir:$W/pulled")
printf '%-34s %8s ms   skopeo %8s ms   ratio %s (target <= 1.1)\n' "push ${MB} MB (first push)" "$sp" "$kp" \
	"$(python3 -c "print(round($sp/$kp, 2))")"
printf '%-34s %8s ms   skopeo %8s ms   ratio %s (target <= 1.1)\n' "pull ${MB} MB" "$spl" "$kpl" \
	"$(python3 -c "print(round($spl/$kpl, 2))")"
