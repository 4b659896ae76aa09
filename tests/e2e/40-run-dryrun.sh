#!/bin/bash
# smolc run --dry-run: the exact QEMU argv for a run config (NetBSD
# anchor flags, Linux profile, options layered on top), target lookup by
# path and by service name, and the accelerator line on stderr.
set -euo pipefail
export SMOLC_STATE_DIR=$TEST_TMP/state
unset QEMU_ACCEL SMOLC_QEMU
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p images
head -c 4096 /dev/zero > images/bozohttpd-amd64.kernel
truncate -s 1M images/bozohttpd-amd64.img
cat > images/bozohttpd-amd64.yaml <<'Y'
version: 1
service: "bozohttpd"
arch: amd64
profile: netbsd
kernel: "bozohttpd-amd64.kernel"
image: "bozohttpd-amd64.img"
memory: 256
cpus: 1
ports:
  - {host_addr: "127.0.0.1", host: 8080, guest: 80, proto: tcp}
Y
D=$PWD/images

# 1. NetBSD profile: the anchor's flags, exactly
out=$("$SMOLC" run --dry-run --accel tcg images/bozohttpd-amd64.yaml 2>err)
want="qemu-system-x86_64 -nodefaults -no-user-config -M microvm,rtc=on,acpi=off,pic=off -accel tcg -cpu qemu64 -m 256 -smp 1 -kernel $D/bozohttpd-amd64.kernel -append 'console=com root=NAME=bozohttpdroot -z' -drive if=none,file=$D/bozohttpd-amd64.img,format=raw,id=hd0 -device virtio-blk-device,drive=hd0 -netdev user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:8080-:80 -device virtio-net-device,netdev=net0 -global virtio-mmio.force-legacy=false -display none -no-reboot -rtc base=utc,clock=host,driftfix=slew -serial mon:stdio"
[ "$out" = "$want" ] || fail "netbsd argv:
got:  $out
want: $want"
grep -qx 'smolc: accel: tcg (requested by --accel)' err || fail "accel line: $(cat err)"

# 2. by service name, from the directory holding images/
out2=$("$SMOLC" run --dry-run --accel tcg bozohttpd 2>/dev/null)
[ "$out2" = "$want" ] || fail "lookup by name gave: $out2"

# 3. QEMU_ACCEL=tcg like the anchor
QEMU_ACCEL=tcg "$SMOLC" run --dry-run bozohttpd >/dev/null 2>err
grep -qx 'smolc: accel: tcg (requested by QEMU_ACCEL)' err || fail "QEMU_ACCEL: $(cat err)"

# 4. auto: one line saying which and why; without /dev/kvm or on kvm_pvm
#    hosts it is TCG
"$SMOLC" run --dry-run bozohttpd >out 2>err
grep -q '^smolc: accel: \(tcg\|kvm\) (.*)$' err || fail "auto accel line: $(cat err)"
if [ ! -e /dev/kvm ]; then
	grep -qx 'smolc: accel: tcg (kvm: /dev/kvm: No such file or directory)' err \
		|| fail "auto without /dev/kvm: $(cat err)"
	grep -q -- ' -accel tcg -cpu qemu64 ' out || fail "auto argv: $(cat out)"
elif [ -d /sys/module/kvm_pvm ]; then
	grep -qx 'smolc: accel: tcg (kvm: /dev/kvm is the paravirtual kvm_pvm, which cannot run ordinary guests)' err \
		|| fail "auto on kvm_pvm: $(cat err)"
	grep -q -- ' -accel tcg -cpu qemu64 ' out || fail "auto argv: $(cat out)"
fi

# 5. run options layered over the config
mkdir -p share
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -p 9090:90/udp -p 0.0.0.0:2222:22 -m 1G -c 2 \
	--share share:data:ro -a 'debug=1' 2>/dev/null)
for frag in " -m 1024 -smp 2 " \
	" -append 'console=com root=NAME=bozohttpdroot -z debug=1' " \
	",ipv6=off,hostfwd=udp:127.0.0.1:9090-:90,hostfwd=tcp:0.0.0.0:2222-:22 " \
	" -fsdev local,id=fs0,path=$PWD/share,security_model=none,readonly=on -device virtio-9p-device,fsdev=fs0,mount_tag=data "; do
	case $out in *"$frag"*) ;; *) fail "missing '$frag' in: $out" ;; esac
done

# 5b. ports, Docker's model: -p replaces the config's PORTS; -p GUEST and
# -P pick free host ports and say which
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -p 18311:80 2>/dev/null)
case $out in *",ipv6=off,hostfwd=tcp:127.0.0.1:18311-:80 -device"*) ;; *) fail "-p replacing: $out" ;; esac
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -p 80 2>err)
picked=$(sed -n 's|^smolc: published 127.0.0.1:\([0-9]*\) -> guest port 80/tcp$|\1|p' err)
[ -n "$picked" ] && [ "$picked" != 8080 ] || fail "-p 80: no picked port: $(cat err)"
case $out in *",ipv6=off,hostfwd=tcp:127.0.0.1:$picked-:80 -device"*) ;; *) fail "-p 80 argv: $out" ;; esac
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -p 127.0.0.1::53/udp 2>err)
picked=$(sed -n 's|^smolc: published 127.0.0.1:\([0-9]*\) -> guest port 53/udp$|\1|p' err)
case $out in *",ipv6=off,hostfwd=udp:127.0.0.1:$picked-:53 -device"*) ;; *) fail "-p ADDR::53/udp: $(cat err) $out" ;; esac
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -P 2>err)
picked=$(sed -n 's|^smolc: published 127.0.0.1:\([0-9]*\) -> guest port 80/tcp$|\1|p' err)
[ -n "$picked" ] || fail "-P: $(cat err)"
case $out in *",ipv6=off,hostfwd=tcp:127.0.0.1:$picked-:80 -device"*) ;; *) fail "-P argv: $out" ;; esac
out=$("$SMOLC" run --dry-run --accel tcg bozohttpd -P -p 2222:22 2>err)
case $out in *",hostfwd=tcp:127.0.0.1:2222-:22 -device"*) ;; *) fail "-P -p argv: $out" ;; esac
rc=0; "$SMOLC" run --dry-run --accel tcg bozohttpd -p 9000:80 -p 9000:81 >out 2>err || rc=$?
[ $rc -eq 2 ] && grep -qx 'smolc: run: host port 9000 (127.0.0.1/tcp) is published twice (-p replaces the run config'"'"'s ports; give each host port once)' err \
	|| fail "-p twice: $rc $(cat err)"

# 6. Linux profile, read-only root
sed -e 's/profile: netbsd/profile: linux/' images/bozohttpd-amd64.yaml > images/ro.yaml
echo 'readonly: true' >> images/ro.yaml
out=$("$SMOLC" run --dry-run --accel tcg images/ro.yaml 2>/dev/null)
case $out in *" -append 'console=ttyS0 root=PARTLABEL=bozohttpdroot ro reboot=t panic=-1' "*) ;; *) fail "linux ro cmdline: $out" ;; esac
case $out in *"format=raw,id=hd0,readonly=on "*) ;; *) fail "readonly drive: $out" ;; esac
case $out in *" -M microvm,rtc=on,acpi=off,pic=on "*) ;; *) fail "linux needs pic=on: $out" ;; esac

# 7. -d: pidfile/QMP in the state dir, console to a file, -daemonize
out=$("$SMOLC" run --dry-run --accel tcg -d --name web1 bozohttpd 2>/dev/null)
case $out in *" -chardev file,id=con0,path=console.log -serial chardev:con0 -pidfile $SMOLC_STATE_DIR/web1/qemu.pid -qmp unix:qmp.sock,server=on,wait=off -daemonize") ;;
	*) fail "detached argv: $out" ;; esac
[ ! -e "$SMOLC_STATE_DIR/web1" ] || fail "--dry-run created state"

# 8. consoles
out=$("$SMOLC" run --dry-run --accel tcg --console tcp:4555 bozohttpd 2>/dev/null)
case $out in *" -serial tcp:127.0.0.1:4555,server=on,wait=off") ;; *) fail "tcp console: $out" ;; esac
echo ok
