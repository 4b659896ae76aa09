# shellcheck shell=bash
# tests/guest/lib.sh — shell helpers shared by tests/demo.sh and the boot
# tests tests/e2e/5x-*.sh. Source it; it defines functions only (and
# GUEST_LIB_DIR), no side effects.
#
#   guest_prepare DIR     kernel (cached build) + busybox set into DIR:
#                         DIR/vmlinux, DIR/busybox.tar.xz, DIR/SHA512 (the
#                         set made once by tests/lib/fixture, then cached)
#   free_port             print a free TCP port on 127.0.0.1
#   http_get PORT [PATH]  curl the page (10 s max), body on stdout
#   wait_http PORT SECS   poll until an HTTP answer comes; prints elapsed ms
#   qemu_pids_matching S  pids of running qemu-system-* whose argv holds S
GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

guest_prepare() { # dir
	local dir=$1 k
	mkdir -p "$dir" || return 1
	k=$("$GUEST_LIB_DIR/build-kernel.sh") || return 1
	if ! cmp -s "$k" "$dir/vmlinux"; then
		cp "$k" "$dir/vmlinux.tmp" && mv "$dir/vmlinux.tmp" "$dir/vmlinux" || return 1
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
