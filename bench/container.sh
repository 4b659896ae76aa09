#!/bin/bash
# bench/container.sh — the container image of examples/hello (smolc export):
#   - export time (oci-archive: both layers tarred and gzip'd, the layout
#     written) against GNU tar + gzip of the same files, the hand-written
#     way (the anchor's example assembles its image by hand: copy QEMU,
#     its libraries, the kernel and the disk, tar and compress them);
#   - the size of the runtime layer (QEMU, its libraries and firmware,
#     busybox; target < 40 MiB compressed) and of the whole image;
#   - time from `podman run -d` to the first HTTP answer against
#     `smolc run` of the same image (target ratio <= 1.2; when podman and
#     runc work here, as root).
# Usage: bench/container.sh   Env: BENCH_CONTAINER_RUNS (default 3)
set -eu
. "$(dirname "$0")/lib.sh"
. "$BENCH_ROOT/tests/guest/lib.sh"

RUNS=${BENCH_CONTAINER_RUNS:-3}
W=$(mktemp -d "$BENCH_DATA/container.XXXXXX")
BENCH_LOG="$W/log"
export SMOLC_DATA="$W/data" SMOLC_CACHE="$W/cache" XDG_STATE_HOME="$W/state" TMPDIR="$W"
export CONTAINERS_CONF="$W/containers.conf"
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
	>"$CONTAINERS_CONF"
# podman's storage: overlay, as a Docker/Podman host has it, when this
# machine can mount one (vfs copies the whole image into every container:
# ~0.5 s of the first-answer time that a real host does not pay); else vfs
STORAGE=${BENCH_PODMAN_STORAGE:-}
if [ -z "$STORAGE" ]; then
	mkdir -p "$W/ovt/l" "$W/ovt/u" "$W/ovt/w" "$W/ovt/m"
	if mount -t overlay overlay -o "lowerdir=$W/ovt/l,upperdir=$W/ovt/u,workdir=$W/ovt/w" "$W/ovt/m" 2>/dev/null; then
		umount "$W/ovt/m"
		STORAGE=overlay
	else
		STORAGE=vfs
	fi
	rm -rf "$W/ovt"
fi
pm() { podman --root "$W/ps/root" --runroot "$W/ps/run" --storage-driver "$STORAGE" --runtime runc --cgroup-manager cgroupfs "$@"; }
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	command -v podman >/dev/null && { pm rm -f -a -t 0; pm rmi -a -f; } >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "container: the test guest and examples/hello"
guest_prepare "$BENCH_ROOT/build/guest" >>"$BENCH_LOG" 2>&1 || { note "could not prepare build/guest"; exit 1; }
PORT=$(free_port)
"$SMOLC" build -q -o "$W/out" --build-arg GUEST="$BENCH_ROOT/build/guest" --build-arg PORT="$PORT" -t hello:bench \
	"$BENCH_ROOT/examples/hello/Smolfile" >>"$BENCH_LOG" 2>&1

e_runs=() t_runs=()
for i in $(seq "$RUNS"); do
	rm -f "$W/h.tar"
	measure "$SMOLC" export -q hello:bench --format oci-archive "$W/h.tar"
	e_runs+=("$MS")
done
# the same files, by hand: unpack both layers, then tar + gzip them again
rm -rf "$W/od" "$W/tree"
"$SMOLC" export -q --json hello:bench --format oci-dir "$W/od" >"$W/export.json"
mkdir -p "$W/tree/rt" "$W/tree/guest"
rt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"][7:])' "$W/export.json")
gl=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][1]["digest"][7:])' "$W/export.json")
tar -xzf "$W/od/blobs/sha256/$rt" -C "$W/tree/rt"
tar -xzf "$W/od/blobs/sha256/$gl" -C "$W/tree/guest"
for i in $(seq "$RUNS"); do
	measure sh -c "tar --sort=name -C '$W/tree/rt' -czf '$W/rt.tgz' . && tar --sort=name -C '$W/tree/guest' -czf '$W/g.tgz' ."
	t_runs+=("$MS")
done
# the first export makes the runtime layer (the cache is new), the others reuse it
cold=${e_runs[0]} e=$(median "${e_runs[@]:1}") t=$(median "${t_runs[@]}")
[ "$RUNS" -gt 1 ] || e=$cold
note "container: export ${e_runs[*]} ms (the first one cold); tar+gzip ${t_runs[*]} ms"
r=$(ratio "$cold" "$t")
result "smolc export (oci-archive) of examples/hello, cold (runtime layer made)" "$(fmt_ms "$cold")" \
	"$(fmt_ms "$t") (tar --sort=name -czf of the same files)" "$r" "ratio <= 1.2" "$(verdict "$r <= 1.2")"
r=$(ratio "$e" "$t")
result "smolc export, runtime layer CACHED (median of the others)" "$(fmt_ms "$e")" \
	"$(fmt_ms "$t")" "$r" "ratio <= 1.2" "$(verdict "$r <= 1.2")"
rs=$(stat -c %s "$W/od/blobs/sha256/$rt") gs=$(stat -c %s "$W/od/blobs/sha256/$gl")
ru=$(du -sk --apparent-size "$W/tree/rt" | cut -f1)
result "runtime layer size (QEMU, libraries, firmware, busybox)" "$(fmt_kb $((rs / 1024))) gzip, $(fmt_kb "$ru") unpacked" \
	"-" "-" "< 40 MiB gzip" "$(verdict "$rs < 41943040")"
result "whole image (oci-archive)" "$(fmt_kb $(( $(stat -c %s "$W/h.tar") / 1024 )))" "-" "-" "informational" "-"

# podman run vs smolc run: first HTTP answer
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || [ "$(id -u)" != 0 ] || ! pm info >/dev/null 2>&1; then
	note "container: podman/runc not usable here (or not root): no podman figure"
	exit 0
fi
pm load -i "$W/h.tar" >>"$BENCH_LOG" 2>&1
p_runs=() s_runs=()
for i in $(seq "$RUNS"); do
	cport=$(free_port)
	t0=$(date +%s%N)
	pm run -d --name hb -p "127.0.0.1:$cport:$PORT" localhost/hello:bench >>"$BENCH_LOG" 2>&1
	wait_http "$cport" 240 >/dev/null || { note "podman: no answer (log $BENCH_LOG)"; exit 1; }
	p_runs+=($(( ($(date +%s%N) - t0) / 1000000 )))
	pm rm -f -t 0 hb >>"$BENCH_LOG" 2>&1
	t0=$(date +%s%N)
	(cd "$W" && exec "$SMOLC" run hello:bench) </dev/null >>"$BENCH_LOG" 2>&1 &
	spid=$!
	wait_http "$PORT" 240 >/dev/null || { note "smolc run: no answer (log $BENCH_LOG)"; exit 1; }
	s_runs+=($(( ($(date +%s%N) - t0) / 1000000 )))
	kill "$spid"; wait "$spid" 2>/dev/null || true
	spid=
done
pb=$(printf '%s\n' "${p_runs[@]}" | sort -n | head -1) sb=$(printf '%s\n' "${s_runs[@]}" | sort -n | head -1)
note "container: podman run ${p_runs[*]} ms; smolc run ${s_runs[*]} ms"
r=$(ratio "$pb" "$sb")
result "podman run -d ($STORAGE storage) of the export to first HTTP answer (best of $RUNS)" "$(fmt_ms "$pb")" \
	"$(fmt_ms "$sb") (smolc run of the same image)" "$r" "ratio <= 1.2" "$(verdict "$r <= 1.2")"
