#!/bin/bash
# The anchor's launcher options (smolBSD startnb.sh) in smolc run, checked
# in --dry-run argv, from the command line and from the run config:
# -e/-E (fw_cfg under opt/org.smolbsd.var|file.NAME), --drive FILE[,ro],
# --share-rw, --no-network / --net none|bridge=BR, --console-ports N,
# --qemu-arg, --pty, the console device (viocon chosen when the kernel
# defines viocon_earlyinit, as startnb's nm check; com otherwise or with
# --console-device com), the -bios workaround for QEMU 9.0/9.1 microvm.
# Then a real QEMU (dummy kernel) with -d --pty: the pty is printed,
# `smolc attach` connects to it and detaches on EOF; inspect records argv.
set -uo pipefail
"$SMOLC" run --help 2>/dev/null | grep -q -- --dry-run || { echo "smolc run is not wired into this binary"; exit 77; }
command -v cc >/dev/null || { echo "cc not installed"; exit 77; }
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
fail() { echo "FAIL: $*" >&2; cleanup; exit 1; }
cleanup() {
	for f in "$SMOLC_STATE_DIR"/*/qemu.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	return 0
}
trap cleanup EXIT
has() { case $out in *"$1"*) ;; *) fail "${2:-argv} lacks '$1': $out" ;; esac; }
hasnt() { case $out in *"$1"*) fail "${2:-argv} has '$1': $out" ;; esac; }

mkdir -p images
head -c 4096 /dev/zero > images/svc-amd64.kernel
printf 'void viocon_earlyinit(void) {}\n' | cc -c -x c - -o images/viocon.kernel || fail "cc"
printf 'void other(void) {}\n' | cc -c -x c - -o images/plain.kernel || fail "cc"
truncate -s 1M images/svc-amd64.img data.img
echo "some config" > cfg.txt
cat > images/svc-amd64.yaml <<Y
service: svc
arch: amd64
kernel: svc-amd64.kernel
image: svc-amd64.img
ports:
  - {host: 18080, guest: 80}
Y
run() { out=$("$SMOLC" run --dry-run --accel tcg "$@" 2>err) || fail "run $*: $(cat err)"; }

# 1. the command line
run svc -e GREETING=hi,there -E CFG=cfg.txt --drive data.img,ro --share-rw --console-ports 2 \
	--qemu-arg -no-shutdown --qemu-arg '-device' --qemu-arg 'virtio-rng-device'
has " -fw_cfg opt/org.smolbsd.var.GREETING,string=hi,,there "
has " -fw_cfg opt/org.smolbsd.file.CFG,file=$PWD/cfg.txt "
has " -device virtio-blk-device,drive=hd0,share-rw=on -drive if=none,file=$PWD/data.img,format=raw,id=hd1,readonly=on -device virtio-blk-device,drive=hd1 "
has " -device virtio-serial-device,max_ports=2 -serial mon:stdio -chardev socket,path=cons1.sock,server=on,wait=off,id=cons1 -device virtconsole,chardev=cons1,name=cons1 -chardev socket,path=cons2.sock,server=on,wait=off,id=cons2 -device virtconsole,chardev=cons2,name=cons2 "
case $out in *" -no-shutdown -device virtio-rng-device") ;; *) fail "--qemu-arg not last: $out" ;; esac
run svc --no-network
hasnt "-netdev" "--no-network"
grep -qx "smolc: warning: no network: the run config's ports are not published" err || fail "--no-network warning: $(cat err)"
run svc --net none
hasnt "-netdev" "--net none"
run svc --net bridge=br0
has " -netdev user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:18080-:80 -device virtio-net-device,netdev=net0 -netdev bridge,id=net1,br=br0 -device virtio-net-device,netdev=net1 "
run svc --pty
has " -serial pty"

# 2. the console device: viocon when the NetBSD kernel has it
sed 's/^kernel: .*/kernel: viocon.kernel/' images/svc-amd64.yaml > images/vio.yaml
run images/vio.yaml
has " -append 'console=viocon root=NAME=svcroot -z' "
has " -device virtio-serial-device,max_ports=1 -chardev stdio,id=con0,mux=on,signal=on -device virtconsole,chardev=con0,name=con0 -serial none"
run images/vio.yaml --console-device com
has " -append 'console=com root=NAME=svcroot -z' "
has " -serial mon:stdio"
run images/vio.yaml --console-ports 1 --pty
has " -device virtio-serial-device,max_ports=2 -chardev pty,id=con0 -device virtconsole,chardev=con0,name=con0 -serial none -chardev socket,path=cons1.sock"
run images/vio.yaml -d --name v
has " -append 'console=com root=NAME=svcroot -z' " "-d (the anchor keeps com when daemonized)"
sed 's/^kernel: .*/kernel: plain.kernel/' images/svc-amd64.yaml > images/plain.yaml
run images/plain.yaml
has " -append 'console=com root=NAME=svcroot -z' "
run images/svc-amd64.yaml --console-device viocon
has " -append 'console=viocon root=NAME=svcroot -z' "

# 3. the same from the run config
cp images/svc-amd64.yaml images/all.yaml
cat >> images/all.yaml <<Y
console_device: com
console_ports: 1
network: none
share_rw: true
drives:
  - {path: "$PWD/data.img", readonly: false}
fw_cfg:
  - {var: MODE, value: "prod"}
  - {file: CFG, path: "$PWD/cfg.txt"}
qemu_args: ["-no-shutdown"]
Y
run images/all.yaml
has " -fw_cfg opt/org.smolbsd.var.MODE,string=prod -fw_cfg opt/org.smolbsd.file.CFG,file=$PWD/cfg.txt "
has ",share-rw=on -drive if=none,file=$PWD/data.img,format=raw,id=hd1 -device virtio-blk-device,drive=hd1 "
hasnt "-netdev" "network: none"
case $out in *" -no-shutdown") ;; *) fail "qemu_args: $out" ;; esac
run images/all.yaml -e MODE=dev
has " -fw_cfg opt/org.smolbsd.var.MODE,string=dev " "-e over the config's"

# 4. errors
"$SMOLC" run --dry-run svc -e 'BAD-NAME=1' >out 2>err; rc=$?
[ $rc -eq 2 ] && grep -qx "smolc: -e BAD-NAME=1: expected NAME=VALUE with NAME of 1-40 letters, digits or '_'" err || fail "-e bad: $rc $(cat err)"
"$SMOLC" run --dry-run svc -E CFG=nosuch.txt >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -qx "smolc: -E CFG=nosuch.txt: nosuch.txt: No such file or directory" err || fail "-E missing: $rc $(cat err)"
"$SMOLC" run --dry-run svc --drive nosuch.img >out 2>err; rc=$?
[ $rc -eq 1 ] && grep -qx "smolc: --drive nosuch.img: No such file or directory" err || fail "--drive missing: $rc $(cat err)"
"$SMOLC" run --dry-run svc --net tap >out 2>err; rc=$?
[ $rc -eq 2 ] && grep -qx "smolc: --net tap: expected user, none or bridge=BRIDGE (an interface name)" err || fail "--net bad: $rc $(cat err)"
"$SMOLC" run --dry-run svc --no-network -p 8080:80 >out 2>err; rc=$?
[ $rc -eq 2 ] && grep -qx "smolc: run: -p/-P publish ports, but there is no network (--no-network or network: none)" err || fail "-p without network: $rc $(cat err)"
"$SMOLC" run --dry-run svc --console-device vga >out 2>err; rc=$?
[ $rc -eq 2 ] || fail "--console-device vga: $rc"

# 5. QEMU 9.0/9.1: -bios bios-microvm.bin on microvm
mkdir -p bin
printf '#!/bin/sh\necho "QEMU emulator version 9.1.2 (Debian)"\n' > bin/qemu9
printf '#!/bin/sh\necho "QEMU emulator version 9.2.0"\n' > bin/qemu92
chmod +x bin/qemu9 bin/qemu92
out=$(SMOLC_QEMU=$PWD/bin/qemu9 "$SMOLC" run --dry-run --accel tcg svc 2>err) || fail "qemu9: $(cat err)"
has " -M microvm,rtc=on,acpi=off,pic=off -bios bios-microvm.bin -accel tcg "
grep -qx 'smolc: QEMU 9.0/9.1: adding -bios bios-microvm.bin (its microvm default BIOS crashes)' err || fail "bios note: $(cat err)"
out=$(SMOLC_QEMU=$PWD/bin/qemu92 "$SMOLC" run --dry-run --accel tcg svc 2>err) || fail "qemu92: $(cat err)"
hasnt "-bios" "QEMU 9.2"

# 6. a real QEMU with a pty console: printed, attach connects and detaches
if command -v qemu-system-x86_64 >/dev/null; then
	"$SMOLC" run -d --accel tcg --pty -p 80 svc >out 2>err || fail "run -d --pty: $(cat err)"
	pts=$(sed -n 's|^smolc: started svc (pid [0-9]*, tcg), console on \(/dev/pts/[0-9]*\); `smolc attach svc`, `smolc stop svc`$|\1|p' err)
	[ -n "$pts" ] && [ -c "$pts" ] || fail "no pty printed: $(cat err)"
	"$SMOLC" attach svc </dev/null >out 2>err || fail "attach: $(cat err)"
	grep -qx "smolc: attached to svc ($pts); Ctrl-] detaches"$'\r' err && grep -qx 'smolc: detached from svc' err || fail "attach messages: $(cat -A err)"
	"$SMOLC" inspect --json svc | grep -q '"-serial","pty"' || fail "inspect argv"
	"$SMOLC" rm -f svc >/dev/null 2>&1 || fail "rm -f"
	"$SMOLC" run -d --accel tcg -p 80 svc >/dev/null 2>&1 || fail "run -d"
	"$SMOLC" attach svc </dev/null >out 2>err; rc=$?
	[ $rc -eq 1 ] && grep -qx 'smolc: attach: svc has no pty console (its console: file:console.log); start it with `smolc run -d --pty`' err \
		|| fail "attach without pty: $rc $(cat err)"
	"$SMOLC" rm -f svc >/dev/null 2>&1
fi
echo ok
