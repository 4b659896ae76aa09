#!/bin/sh
# Install the Debian packages smolc's build, tests and demo need.
# Idempotent; quiet when everything is already present.
set -e
PKGS="build-essential pkg-config flex bison clang libclang-rt-14-dev \
libarchive-dev zlib1g-dev liblzma-dev libcurl4-openssl-dev libext2fs-dev libfdisk-dev libyaml-dev libssl-dev libcmocka-dev \
e2fsprogs gdisk libarchive-tools bubblewrap busybox-static python3 xz-utils valgrind \
qemu-system-x86 qemu-utils libelf-dev curl strace \
libjansson-dev libzstd-dev zstd docker-registry skopeo apache2-utils openssl podman runc python3-yaml \
mandoc man-db bsdextrautils"
# Not here: linux-source-6.1 and bc, for the optional compiled-in test kernel
# (tests/guest/build-kernel.sh, SMOLC_TEST_KERNEL=tiny) — the test guest
# uses Debian's stock kernel by default (tests/guest/stock-kernel.sh).
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "smolc deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
