#!/bin/bash
# bench/registry.sh — push and pull of a ~300 MB image to a local registry
# (Debian's docker-registry on 127.0.0.1) against `skopeo copy` of the same
# content (an OCI layout dir made with skopeo from what smolc pushed).
# Target: smolc / skopeo <= 1.1 each way. Usage: bench/registry.sh [MB]
#
# Every push goes to a registry of its own with empty storage: run as root,
# skopeo keeps its blob-info cache in /var/lib/containers whatever HOME is,
# and with a registry that already holds the blobs (in another repository)
# it mounts them instead of uploading — a push of 300 MB in 0.1 s that
# measures nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMOLC=${SMOLC:-$ROOT/smolc}
MB=${1:-300}
W=$(mktemp -d "${TMPDIR:-/tmp}/smolc-regbench.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$W"' EXIT
export SMOLC_DATA=$W/data SMOLC_CACHE=$W/cache DOCKER_CONFIG=$W/docker
# registry NAME: start one with empty storage; prints 127.0.0.1:PORT
registry() {
	local port
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: "127.0.0.1:%s", secret: b}\n' \
		"$W/reg-$1" "$port" >"$W/config-$1.yml"
	/usr/bin/docker-registry serve "$W/config-$1.yml" >"$W/reg-$1.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
	REG=127.0.0.1:$port
}
registry a; RA=$REG   # smolc's first push (digests computed), and both pulls' source
registry b; RB=$REG   # skopeo's push
registry c; RC=$REG   # smolc's second push (digests remembered in the store)
mkdir -p "$W/ctx"
head -c $((MB * 1024 * 1024)) /dev/urandom >"$W/ctx/blob"
head -c 200000 /dev/urandom >"$W/ctx/kern"
printf 'FROM scratch\nSERVICE big\nPROFILE linux\nKERNEL ./kern\nCOPY blob /blob\nSIZE %dM\n' $((MB + 64)) >"$W/ctx/Smolfile"
(cd "$W/ctx" && "$SMOLC" build -q -o out -t big)
sync
t() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo $(( ($(date +%s%N) - s) / 1000000 )); }
sp=$(t "$SMOLC" push -q big "$RA/a/big")
HOME=$W/skhome0 skopeo copy -q --src-tls-verify=false "docker://$RA/a/big:latest" "oci:$W/layout:big" 2>/dev/null
sync
kp=$(t env HOME="$W/skhome" skopeo copy -q --dest-tls-verify=false "oci:$W/layout:big" "docker://$RB/b/big:latest")
sp2=$(t "$SMOLC" push -q big "$RC/c/big")
# into an empty store: nothing of the image is there to be reused
spl=$(t env SMOLC_DATA="$W/data2" SMOLC_CACHE="$W/cache2" "$SMOLC" pull -q "$RA/a/big")
kpl=$(t env HOME="$W/skhome2" skopeo copy -q --src-tls-verify=false "docker://$RA/a/big:latest" "dir:$W/pulled")
ratio() { python3 -c "print(round($1/$2, 2))"; }
printf '%-40s %8s ms   skopeo %8s ms   ratio %s (target <= 1.1)\n' "push ${MB} MB (first: digests computed)" "$sp" "$kp" "$(ratio "$sp" "$kp")"
printf '%-40s %8s ms   skopeo %8s ms   ratio %s (target <= 1.1)\n' "push ${MB} MB (digests remembered)" "$sp2" "$kp" "$(ratio "$sp2" "$kp")"
printf '%-40s %8s ms   skopeo %8s ms   ratio %s (target <= 1.1)\n' "pull ${MB} MB" "$spl" "$kpl" "$(ratio "$spl" "$kpl")"
