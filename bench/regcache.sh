#!/bin/bash
# bench/regcache.sh — the remote layer cache (SPEC §8.5): a cold CI build
# on a fresh runner with --cache-from a warm registry cache, against the
# same cold build without it.
#
# Input: bench/build.sh's recipe (FROM scratch, one generated base-like set
# of BENCH_FILES files / BENCH_BYTES bytes as tar.xz, a kernel, an RC), a
# registry: Debian's docker-registry on 127.0.0.1 (storage in $BENCH_DATA).
# Figures:
#   cold build, empty local cache, no remote cache        (the reference)
#   export to the registry (--cache-to; informational)
#   cold build, empty local cache, --cache-from the registry: every step
#     CACHED (remote), the image byte-identical (checked); median of 3
#   target: --cache-from build <= 0.3 of the cold build
set -eu
. "$(dirname "$0")/lib.sh"

FILES=${BENCH_FILES:-20000}
BYTES=${BENCH_BYTES:-250000000}
[ -x /usr/bin/docker-registry ] || { note "docker-registry is not installed (tests/deps.sh)"; exit 1; }

SET=$(make_set "$FILES" "$BYTES")
W="$BENCH_DATA/work-regcache"
rm -rf "$W"
mkdir -p "$W/svc" "$W/reg"
BENCH_LOG="$W/log"
RP=
trap '[ -n "$RP" ] && { kill "$RP" 2>/dev/null; wait "$RP" 2>/dev/null; }; rm -rf "$W"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage:\n  filesystem: {rootdirectory: %s}\nhttp: {addr: "127.0.0.1:%s", secret: b}\n' \
	"$W/reg" "$port" >"$W/config.yml"
/usr/bin/docker-registry serve "$W/config.yml" >"$W/reg.log" 2>&1 &
RP=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
CACHE=127.0.0.1:$port/bench/cache:main
export SMOLC_DATA=$W/data DOCKER_CONFIG=$W/docker

python3 -c 'import sys; sys.stdout.buffer.write(b"\x7fELF" + bytes(range(256))*1000)' >"$W/svc/kernel"
cat >"$W/svc/Smolfile" <<EOF
FROM scratch
SERVICE bench
SETS $SET
KERNEL ./kernel
RC <<EOR
#!/bin/sh
echo regcache
EOR
EOF

# ---- cold build, no remote cache ----
rm -rf "$W/cache" "$W/svc/images"
sync
measure env -C "$W/svc" SMOLC_CACHE="$W/cache" "$SMOLC" build -q -o cold
cold_ms=$MS
note "cold build: ${cold_ms} ms"

# ---- warm the registry from that cache ----
sync
measure env -C "$W/svc" SMOLC_CACHE="$W/cache" "$SMOLC" build -q -o cold --cache-to "$CACHE"
export_ms=$MS
note "export (--cache-to, image up to date): ${export_ms} ms"

# ---- a fresh runner: empty local cache, --cache-from (median of 3) ----
runs=()
for i in 1 2 3; do
	rm -rf "$W/cache2" "$W/svc/remote"
	: >"$BENCH_LOG"
	sync
	measure env -C "$W/svc" SMOLC_CACHE="$W/cache2" "$SMOLC" build -o remote --cache-from "$CACHE"
	runs+=("$MS")
	n_remote=$(grep -c 'CACHED (remote)' "$BENCH_LOG" || true)
	cmp -s "$W/svc/cold/bench-amd64.img" "$W/svc/remote/bench-amd64.img" ||
		{ note "the image built from the remote cache differs"; exit 1; }
done
remote_ms=$(median "${runs[@]}")
note "cold builds with --cache-from: ${runs[*]} ms"

result "export of the build cache (--cache-to, $((FILES / 1000))k files)" "$(fmt_ms "$export_ms")" "-" "-" "informational" "-"
r=$(ratio "$remote_ms" "$cold_ms")
result "cold build with --cache-from a warm registry ($n_remote steps remote, median of 3)" "$(fmt_ms "$remote_ms")" \
	"$(fmt_ms "$cold_ms") (cold, no cache)" "$r" "ratio <= 0.3" "$(verdict "$r <= 0.3")"
