#!/bin/bash
# boot-reference.sh — build and boot the hello guest with standard tools only
# (no smolc): the reference that proves the test guest boots, and the
# "standard-tool equivalent" for smolc's benchmarks.
#
# Design: the smolBSD/Linux flow, unprivileged where it can be: bsdtar -x the
# busybox set into a directory, add etc/rc (taken verbatim from the RC <<'EOF'
# heredoc of examples/hello/Smolfile), etc/fstab and the page, `mke2fs -t
# ext2 -O none -d DIR` into a partition image, GPT by sgdisk (one partition at
# 1 MiB, type 8300, name <service>root, attribute bit 59), dd the partition
# in. Then QEMU microvm under TCG with the argv recorded in NOTES.md.
#
# Usage: boot-reference.sh [options] MODE
#   image     build the disk image only; print its path
#   argv      print the qemu command line (shell-quoted) and exit
#   http      boot, wait for the first HTTP answer on the forwarded port,
#             print the page (curl) on stdout, timings on stderr, stop the VM
#   selftest  boot a test rc that checks the root mount (rw/ro), reads a
#             9p share, then runs `poweroff`; assert QEMU exits by itself
# Options:
#   -w DIR         work directory (kept; default: a temp dir, removed)
#   -p PORT        host port forwarded to guest port 80 (default 8080 for
#                  http, a free port for selftest)
#   --ro           read-only root: `ro` on the kernel command line + fstab
#   --root KIND    partlabel (root=PARTLABEL=helloroot, default) | dev (/dev/vda1)
#   --share DIR    share DIR as 9p tag share0 (selftest makes one if absent)
#   --kernel FILE  vmlinux (default: tests/guest/build-kernel.sh, cached)
#   --guest DIR    where busybox.tar.xz is (default build/guest; made if absent)
#   --cpu MODEL    QEMU CPU model (default qemu64)
#   --machine M    QEMU machine (default microvm,rtc=on,acpi=off,pic=on:
#                  with pic=off this Linux guest has no working timer under
#                  TCG — see NOTES.md)
#   --timeout S    give up after S seconds (default 60)
#   --rc FILE      use FILE as the guest's /etc/rc (default: the example's)
#   --append ARGS  extra kernel command line arguments
# Env: QEMU_EXTRA  extra qemu arguments (word-split), e.g. "-rtc base=utc"
# Writes WORK/timings (image_ms=, console_ms=, http_ms=, exit_ms=; shell
# syntax) and WORK/console.log.
# Exit: 0 ok, 1 failure, 2 usage.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SERVICE=hello

usage() { sed -n "2,39p" "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() { printf 'boot-reference: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

work='' port='' ro=0 rootkind=partlabel share='' kernel='' guest=$ROOT/build/guest
machine=microvm,rtc=on,acpi=off,pic=on cpu=qemu64 timeout=60 mode='' rcfile='' append=''
while [ $# -gt 0 ]; do
	case $1 in
	-w) work=$2; shift ;;
	-p) port=$2; shift ;;
	--ro) ro=1 ;;
	--root) rootkind=$2; shift ;;
	--share) share=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--guest) guest=$2; shift ;;
	--cpu) cpu=$2; shift ;;
	--machine) machine=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--rc) rcfile=$2; shift ;;
	--append) append=$2; shift ;;
	-h|--help) usage ;;
	image|argv|http|selftest) mode=$1 ;;
	*) log "unknown argument '$1'"; usage ;;
	esac
	shift
done
[ -n "$mode" ] || usage
if [ -z "$port" ]; then
	if [ "$mode" = selftest ]; then
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	else
		port=8080
	fi
fi
case $rootkind in partlabel|dev) ;; *) log "--root: 'partlabel' or 'dev', not '$rootkind'"; exit 2 ;; esac

qpid=
keep=1
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/boot-reference.XXXXXX"); keep=0
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- inputs -------------------------------------------------------------
[ -n "$kernel" ] || kernel=$("$HERE/build-kernel.sh")
[ -r "$kernel" ] || die "$kernel: kernel not readable"
set_tar=$guest/busybox.tar.xz
if [ ! -r "$set_tar" ]; then
	log "making $set_tar"
	"$HERE/../lib/fixture" guest "$guest"
fi

# the RC heredoc of the example, verbatim
hello_rc() {
	awk '/^RC <<.?EOF.?$/ {on=1; next} on && /^EOF$/ {exit} on {print}' \
		"$ROOT/examples/hello/Smolfile"
}

selftest_rc() {
	cat <<-'EOF'
	#!/bin/sh
	export PATH=/bin:/sbin
	mount -a 2>/dev/null
	echo "selftest: root mount: $(grep ' / ' /proc/mounts)"
	if touch /.rw-probe 2>/dev/null; then
		rm -f /.rw-probe; echo "selftest: root is writable"
	else
		echo "selftest: root is read-only"
	fi
	if mount -t 9p -o trans=virtio share0 /mnt; then
		echo "selftest: share: $(cat /mnt/hello.txt)"
	else
		echo "selftest: share: mount failed"
	fi
	umount /mnt 2>/dev/null
	echo "selftest: powering off"
	poweroff
	EOF
}

cmdline() {
	local root=PARTLABEL=${SERVICE}root
	[ "$rootkind" = dev ] && root=/dev/vda1
	local rw=rw
	[ "$ro" = 1 ] && rw=ro
	echo "console=ttyS0 root=$root $rw reboot=t panic=-1${append:+ $append}"
}

mkimage() {
	local dir=$work/root part=$work/part.img img=$work/$SERVICE.img
	rm -rf "$dir" "$part" "$img"
	mkdir -p "$dir"
	bsdtar -xpf "$set_tar" -C "$dir"
	case $mode in
	*) [ -z "$rcfile" ] || cp "$rcfile" "$dir/etc/rc" ;;&
	selftest) [ -n "$rcfile" ] || selftest_rc >"$dir/etc/rc" ;;
	*)
		[ -n "$rcfile" ] || hello_rc >"$dir/etc/rc"
		[ -s "$dir/etc/rc" ] || die "examples/hello/Smolfile: no RC <<'EOF' heredoc found"
		cp "$ROOT/examples/hello/www/index.html" "$dir/var/www/index.html"
		;;
	esac
	chmod 0755 "$dir/etc/rc"
	local opt=rw
	[ "$ro" = 1 ] && opt=ro
	printf '/dev/root / ext2 %s 0 1\n' "$opt" >"$dir/etc/fstab"

	local mib=16
	mke2fs -q -F -t ext2 -O none -E root_owner=0:0 -L "${SERVICE}root" \
		-d "$dir" "$part" "${mib}M" >/dev/null
	# 1 MiB before the partition (GPT), 1 MiB after (backup GPT)
	local psec=$((mib * 2048))
	truncate -s $(((mib + 2) * 1024 * 1024)) "$img"
	sgdisk -n 1:2048:$((2048 + psec - 1)) -t 1:8300 -c 1:"${SERVICE}root" \
		-A 1:set:59 "$img" >/dev/null
	dd if="$part" of="$img" bs=1M seek=1 conv=notrunc,sparse status=none
	rm -f "$part"
	echo "$img"
}

# shellcheck disable=SC2054 # commas are QEMU option syntax
qemu_argv() { # image
	Q=(qemu-system-x86_64
		-M "$machine" -accel tcg -cpu "$cpu" -m 256 -smp 1
		-kernel "$kernel" -append "$(cmdline)"
		-drive if=none,file="$1",format=raw,id=hd0 -device virtio-blk-device,drive=hd0
		-netdev user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:"$port"-:80
		-device virtio-net-device,netdev=net0
		-global virtio-mmio.force-legacy=false
		-display none -serial file:"$work/console.log" -nodefaults -no-reboot
		-pidfile "$work/qemu.pid")
	# shellcheck disable=SC2206
	[ -z "${QEMU_EXTRA:-}" ] || Q+=($QEMU_EXTRA)
	if [ -n "$share" ]; then
		Q+=(-fsdev local,id=fs0,path="$share",security_model=none
			-device virtio-9p-device,fsdev=fs0,mount_tag=share0)
	fi
}

# poll: first console byte, first HTTP answer (or QEMU's exit); milliseconds
# since t0 into $work/timings
measure() { # t0_ns want(http|exit)
	python3 - "$1" "$2" "$work/console.log" "$port" "$timeout" "$qpid" >"$work/timings" <<-'PY'
	import os, socket, sys, time
	t0 = int(sys.argv[1]) / 1e9
	want, log, port, timeout, pid = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
	ms = lambda: int((time.time() - t0) * 1000)
	res = {}
	def alive():
	    try:
	        return os.waitpid(pid, os.WNOHANG) == (0, 0)
	    except ChildProcessError:
	        try:
	            os.kill(pid, 0)
	        except ProcessLookupError:
	            return False
	        with open(f"/proc/{pid}/stat") as f:
	            return f.read().split()[2] != "Z"
	while time.time() - t0 < timeout:
	    if "console_ms" not in res and os.path.exists(log) and os.path.getsize(log) > 0:
	        res["console_ms"] = ms()
	    if want == "http":
	        try:
	            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
	                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
	                if s.recv(5) == b"HTTP/":
	                    res["http_ms"] = ms()
	                    break
	        except OSError:
	            pass
	    if not alive():
	        res["exit_ms"] = ms()
	        break
	    time.sleep(0.01)
	if "console_ms" not in res and os.path.exists(log) and os.path.getsize(log) > 0:
	    res["console_ms"] = ms()
	for k, v in res.items():
	    print(f"{k}={v}")
	PY
}

boot() { # want
	local img t0 ti
	ti=$(date +%s%N)
	img=$(mkimage)
	image_ms=$(( ($(date +%s%N) - ti) / 1000000 ))
	qemu_argv "$img"
	: >"$work/console.log"
	rm -f "$work/console.log"
	t0=$(date +%s%N)
	"${Q[@]}" </dev/null >"$work/qemu.out" 2>&1 &
	qpid=$!
	measure "$t0" "$1"
	echo "image_ms=$image_ms" >>"$work/timings"
	# shellcheck disable=SC1091
	. "$work/timings"
}

case $mode in
image)
	ti=$(date +%s%N)
	mkimage
	log "image built in $(( ($(date +%s%N) - ti) / 1000000 )) ms (bsdtar, mke2fs -d, sgdisk, dd)"
	;;
argv)
	qemu_argv "$work/$SERVICE.img"
	out=
	for a in "${Q[@]}"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=,+@-]+$ ]]; then out+="$a "; else out+="'$a' "; fi
	done
	echo "${out% }"
	;;
http)
	console_ms='' http_ms='' exit_ms=''
	boot http
	if [ -z "$http_ms" ]; then
		log "no HTTP answer on 127.0.0.1:$port within ${timeout}s${exit_ms:+ (QEMU exited after ${exit_ms} ms)}"
		sed 's/^/  qemu: /' "$work/qemu.out" >&2 || true
		tail -n 30 "$work/console.log" 2>/dev/null | sed 's/^/  console: /' >&2 || true
		exit 1
	fi
	curl -fsS --max-time 10 "http://127.0.0.1:$port/"
	log "image built in ${image_ms} ms (bsdtar, mke2fs -d, sgdisk, dd)"
	log "TCG boot: first console byte after ${console_ms:-?} ms, first HTTP answer after ${http_ms} ms"
	;;
selftest)
	console_ms='' http_ms='' exit_ms=''
	if [ -z "$share" ]; then
		share=$work/share; mkdir -p "$share"
		echo "hello over 9p" >"$share/hello.txt"
	fi
	boot exit
	sed 's/^/  qemu: /' "$work/qemu.out" >&2 || true
	sed 's/^/  console: /' "$work/console.log" | grep -E '^(selftest|init):|Kernel panic' >&2 || true
	[ -n "$exit_ms" ] || die "QEMU still running after ${timeout}s: the guest did not power off"
	wait "$qpid" && qrc=0 || qrc=$?
	qpid=
	[ "$qrc" = 0 ] || die "QEMU exited with status $qrc"
	grep -q 'init: poweroff' "$work/console.log" || die "guest did not reach init's poweroff"
	if [ "$ro" = 1 ]; then want="root is read-only"; else want="root is writable"; fi
	grep -q "selftest: $want" "$work/console.log" || die "expected '$want' on the console"
	grep -q "selftest: share: $(head -n1 "$share/hello.txt")" "$work/console.log" ||
		die "9p share not readable in the guest"
	log "TCG selftest ok: first console byte after ${console_ms:-?} ms, QEMU exited after ${exit_ms} ms"
	;;
esac
