# shellcheck shell=bash
# tests/guest/lib.sh — shell helpers shared by tests/demo.sh and the boot
# tests tests/e2e/5x-*.sh. Source it; it defines functions only (and
# GUEST_LIB_DIR), no side effects.
#
#   guest_prepare DIR     kernel + initramfs + busybox set into DIR:
#                         DIR/vmlinux, DIR/initrd, DIR/busybox.tar.xz,
#                         DIR/SHA512 (the set made once by tests/lib/fixture,
#                         then cached), DIR/KERNEL (which kernel: one line)
#   guest_kernel          print which kernel guest_prepare uses: "tiny" or
#                         "stock" ($SMOLC_TEST_KERNEL = tiny | stock | auto:
#                         auto = tiny when it is already built and cached,
#                         else stock — Debian's kernel, fetched in seconds)
#   free_port             print a free TCP port on 127.0.0.1
#   http_get PORT [PATH]  curl the page (10 s max), body on stdout
#   wait_http PORT SECS   poll until an HTTP answer comes; prints elapsed ms
#   qemu_pids_matching S  pids of running qemu-system-* whose argv holds S
GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

guest_kernel() {
	local key
	case ${SMOLC_TEST_KERNEL:-auto} in
	tiny|stock) echo "$SMOLC_TEST_KERNEL" ;;
	auto)
		key=$("$GUEST_LIB_DIR/build-kernel.sh" --print-key 2>/dev/null) || key=none
		if [ -s "${SMOLC_TEST_CACHE:-$HOME/.cache/smolc-test}/kernel-$key/vmlinux" ]; then
			echo tiny
		else
			echo stock
		fi ;;
	*) echo "SMOLC_TEST_KERNEL=$SMOLC_TEST_KERNEL: expected tiny, stock or auto" >&2; return 1 ;;
	esac
}

# dst gets src's bytes (a hard link when it can), atomically
_guest_put() { # src dst
	cmp -s "$1" "$2" && return 0
	rm -f "$2.tmp"
	{ ln -f "$1" "$2.tmp" 2>/dev/null || cp "$1" "$2.tmp"; } && mv -f "$2.tmp" "$2"
}

guest_prepare() { # dir
	local dir=$1 which k d
	mkdir -p "$dir" || return 1
	which=$(guest_kernel) || return 1
	if [ "$which" = tiny ]; then
		k=$("$GUEST_LIB_DIR/build-kernel.sh") || return 1
		_guest_put "$k" "$dir/vmlinux" || return 1
		# the tiny kernel has its drivers built in: an empty initramfs
		python3 "$GUEST_LIB_DIR/mkinitramfs.py" --empty -o "$dir/initrd" || return 1
		echo "tiny $(basename "$(dirname "$k")")" >"$dir/KERNEL"
	else
		d=$("$GUEST_LIB_DIR/stock-kernel.sh") || return 1
		_guest_put "$d/vmlinux" "$dir/vmlinux" && _guest_put "$d/initrd" "$dir/initrd" || return 1
		echo "stock $(sed -n 1p "$d/BUILDINFO")" >"$dir/KERNEL"
	fi
	"$GUEST_LIB_DIR/../lib/fixture" guest "$dir"
}

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_get() { # port [path]
	curl -fsS --max-time 10 "http://127.0.0.1:$1${2:-/}"
}

wait_http() { # port seconds
	python3 - "$1" "$2" <<-'PY'
	import socket, sys, time
	port, limit = int(sys.argv[1]), float(sys.argv[2])
	t0 = time.time()
	while time.time() - t0 < limit:
	    try:
	        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
	            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
	            if s.recv(5) == b"HTTP/":
	                print(int((time.time() - t0) * 1000))
	                sys.exit(0)
	    except OSError:
	        pass
	    time.sleep(0.02)
	sys.exit(1)
	PY
}

qemu_pids_matching() { # string
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		case $cmd in qemu-system-*"$1"*|*/qemu-system-*"$1"*) echo "${p#/proc/}" ;; esac
	done
}
