#!/bin/bash
# The exported container runs the VM under podman (runc; rootful): export
# examples/hello (the Linux test guest, booted under TCG in the container),
# podman load + run -d -p 127.0.0.1:P:8080, the page answers through the
# port; podman stop ends it cleanly: the entrypoint presses the guest's ACPI
# power button (QMP system_powerdown), the guest powers off, exit status 0
# (with the tiny test kernel, which has no ACPI: QEMU is stopped after the
# grace period); a guest that ignores the button is stopped after
# SMOLC_STOP_GRACE seconds, exit 0; a bad SMOLC_STOP_GRACE is exit 2; a
# guest whose /etc/rc exits 3 makes the container exit 3.
# podman's defaults do not fit these machines: crun refuses their cgroup
# set-up (runc is used) and its default ulimits exceed the hard limits
# (a containers.conf with lower nofile/nproc, via CONTAINERS_CONF).
# Storage lives under the test's temp dir and is removed afterwards.
# sanitizer pass: not run (its smolc commands, build and export in each
# format, are e2e 86's, which runs under ASan; the rest of its ~80 s is
# podman, the container's entrypoint and the guest under TCG)
set -euo pipefail
. "$ROOT/tests/lib/common.sh"
. "$ROOT/tests/guest/lib.sh"
command -v podman >/dev/null || skip "podman is not installed (tests/deps.sh)"
command -v runc >/dev/null || skip "runc is not installed (tests/deps.sh)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (tests/deps.sh)"
[ -x /bin/busybox ] || skip "busybox-static is not installed (tests/deps.sh)"
[ "$(id -u)" = 0 ] || skip "podman runs rootful here: the test needs root"
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_DATA=$TEST_TMP/data TMPDIR=$TEST_TMP
export CONTAINERS_CONF=$TEST_TMP/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
PS=$TEST_TMP/ps
pm() { podman --root "$PS/root" --runroot "$PS/run" --storage-driver vfs --runtime runc --cgroup-manager cgroupfs "$@"; }
cleanup() {
	pm rm -f -a -t 0 >/dev/null 2>&1
	pm rmi -a -f >/dev/null 2>&1
	rm -rf "$PS" 2>/dev/null
	return 0
}
t_on_exit cleanup
# podman itself must work here (not a regression of smolc when it cannot)
pm info >/dev/null 2>&1 || skip "podman cannot run here: $(pm info 2>&1 | tail -n 1)"

guest_prepare "$TEST_TMP/guest" || fail "could not prepare the test guest"
run "$SMOLC" build -q -o out --offline --build-arg GUEST="$TEST_TMP/guest" -t hello:ctr \
	"$ROOT/examples/hello/Smolfile"
expect_rc 0 "build examples/hello"
run "$SMOLC" export -q hello:ctr --format oci-archive hello.tar
expect_rc 0 "export hello"
run pm load -i hello.tar
expect_rc 0 "podman load"
assert_contains "$OUT" "Loaded image: localhost/hello:ctr" "the image's name"

port=$(free_port)
run pm run -d --name hello-ctr -p "127.0.0.1:$port:8080" localhost/hello:ctr
expect_rc 0 "podman run -d"
page=""
for i in $(seq 1 240); do
	page=$(curl -s -m 5 "http://127.0.0.1:$port/" 2>/dev/null) && [ -n "$page" ] && break
	[ "$(pm inspect hello-ctr --format '{{.State.Running}}')" = true ] ||
		fail "the container stopped: $(pm logs hello-ctr 2>&1 | tail -n 20)"
	sleep 1
done
assert_contains "$page" "<h1>Hello from a smolc micro-VM</h1>" "the page through the container's port"
run pm logs hello-ctr
assert_contains "$OUT" "smolc: booting hello under tcg" "the entrypoint chose TCG (no /dev/kvm here)"
assert_not_contains "$OUT" "Could not open option rom" "every ROM QEMU loads is in the runtime layer"
run pm stop -t 30 hello-ctr
expect_rc 0 "podman stop"
assert_eq 0 "$(pm inspect hello-ctr --format '{{.State.ExitCode}}')" "exit status after stop"
run pm logs hello-ctr
assert_contains "$OUT" "smolc: SIGTERM: asking the guest to power down (QMP system_powerdown; QEMU is stopped after 5s)" \
	"the entrypoint presses the power button"
case $(cat "$TEST_TMP/guest/KERNEL") in
stock*)
	assert_contains "$OUT" "init: power button" "the guest saw the power button"
	assert_contains "$OUT" "smolc: the guest powered off" "a clean guest shutdown"
	assert_not_contains "$OUT" "terminating on signal" "QEMU was not signalled" ;;
*)	# the tiny kernel has no ACPI: no button to press
	assert_contains "$OUT" "smolc: the guest did not power off within 5s: stopping QEMU" "the fallback"
	assert_contains "$OUT" "terminating on signal 15 from pid 1" "QEMU stopped by the entrypoint (not killed)" ;;
esac

run pm run --rm -e SMOLC_STOP_GRACE=soon localhost/hello:ctr
expect_rc 2 "a bad SMOLC_STOP_GRACE"
assert_contains "$OUT" "smolc: SMOLC_STOP_GRACE=soon: expected seconds" "the entrypoint says what is wrong"

# a guest that ignores the power button: QEMU stopped after SMOLC_STOP_GRACE
mkdir deaf && cat >deaf/Smolfile <<EOF
FROM scratch
SERVICE deaf
PROFILE linux
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
READONLY
RC <<'R'
#!/bin/sh
# init's power-button watcher is a head(1) reading the button's events:
# kill it (init may still be starting it; no ACPI: there is none)
i=0
while [ \$i -lt 25 ]; do
	for p in /proc/[0-9]*; do
		[ "\$(cat \$p/comm 2>/dev/null)" = head ] && kill \${p#/proc/} && i=99
	done
	i=\$((i + 1))
	[ \$i -lt 25 ] && sleep 0.2
done
echo "deaf: ready"
exec sleep 3600
R
EOF
run "$SMOLC" build -q -o deaf/out -t deaf:1 deaf/Smolfile
expect_rc 0 "build deaf"
run "$SMOLC" export -q deaf:1 deaf.tar
expect_rc 0 "export deaf"
run pm load -i deaf.tar
expect_rc 0 "podman load deaf"
run pm run -d --name deaf-ctr -e SMOLC_STOP_GRACE=2 localhost/deaf:1
expect_rc 0 "podman run -d deaf"
for i in $(seq 1 240); do
	pm logs deaf-ctr 2>&1 | grep -q "deaf: ready" && break
	[ "$(pm inspect deaf-ctr --format '{{.State.Running}}')" = true ] ||
		fail "the deaf container stopped: $(pm logs deaf-ctr 2>&1 | tail -n 20)"
	sleep 1
done
run pm stop -t 30 deaf-ctr
expect_rc 0 "podman stop deaf"
assert_eq 0 "$(pm inspect deaf-ctr --format '{{.State.ExitCode}}')" "exit status after a stop past the grace period"
run pm logs deaf-ctr
assert_contains "$OUT" "QEMU is stopped after 2s" "SMOLC_STOP_GRACE sets the grace period"
assert_contains "$OUT" "smolc: the guest did not power off within 2s: stopping QEMU" "the fallback after the grace period"
assert_contains "$OUT" "terminating on signal 15 from pid 1" "QEMU stopped by the entrypoint"

# the guest's rc status is the container's
mkdir rc3 && cat >rc3/Smolfile <<EOF
FROM scratch
SERVICE rcthree
PROFILE linux
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
READONLY
RC <<'R'
#!/bin/sh
echo "rc: exiting 3"
exit 3
R
EOF
run "$SMOLC" build -q -o rc3/out -t rcthree:1 rc3/Smolfile
expect_rc 0 "build rcthree"
run "$SMOLC" export -q rcthree:1 --format docker-archive rc3.tar
expect_rc 0 "export rcthree (docker-archive)"
run pm load -i rc3.tar
expect_rc 0 "podman load docker-archive"
run timeout 600 podman --root "$PS/root" --runroot "$PS/run" --storage-driver vfs --runtime runc \
	--cgroup-manager cgroupfs run --name rc3 rcthree:1
expect_rc 3 "the container of a guest whose rc exits 3"
assert_contains "$OUT" "smolc: the guest's /etc/rc exited with status 3" "the entrypoint says why"
echo ok
