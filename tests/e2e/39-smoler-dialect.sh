#!/bin/bash
# 39-smoler-dialect: the anchor's Dockerfile-style recipes as they are.
#  - smolc check/plan -f smolerfiles/Dockerfile.web from the repository
#    root: the build context is the current directory (INCLUDE
#    smolerfiles/x.inc resolves there), FROM base,etc,comp, LABEL smolbsd.*;
#  - smolc check DIR finds DIR/Smolfile, else Dockerfile, else SMOLerfile;
#    a DIR with none is exit 2 naming it; -f FILE DIR takes DIR as context;
#  - build and boot (Linux test guest, TCG) a recipe in the smoler style:
#    LABEL smolbsd.service/publish, EXPOSE, COPY, USER, WORKDIR,
#    CMD: the page is served from the WORKDIR through the published port,
#    and CMD ran through su (busybox's) as the USER, in the WORKDIR.
set -eu
. "$ROOT/tests/lib/common.sh"
export SMOLC_CACHE="$TEST_TMP/cache"

mkdir -p repo/smolerfiles && cd repo
cat >smolerfiles/web.inc <<'SMOL'
ENV HOMEDIR=/home/${USERNAME}
SMOL
cat >smolerfiles/Dockerfile.web <<'SMOL'
FROM base,etc,comp
LABEL smolbsd.service=web
LABEL smolbsd.imgsize=256
LABEL smolbsd.publish="8080:80"
LABEL smolbsd.addpkgs="nginx"
ENV USERNAME=www
EXPOSE 80
INCLUDE smolerfiles/web.inc
USER ${USERNAME}
WORKDIR ${HOMEDIR}
CMD /usr/pkg/sbin/nginx
SMOL
run "$SMOLC" check -f smolerfiles/Dockerfile.web
assert_eq 0 "$RC" "check -f from the repository root: $OUT"
assert_contains "$OUT" "smolerfiles/Dockerfile.web: ok" "check -f"
run "$SMOLC" plan -f smolerfiles/Dockerfile.web
assert_eq 0 "$RC" "plan -f: $OUT"
assert_contains "$OUT" "  base     base,etc,comp  release" "FROM a list of sets"
assert_contains "$OUT" "  port     127.0.0.1:8080 -> 80/tcp" "smolbsd.publish"
assert_contains "$OUT" "  size     256.0 MiB" "smolbsd.imgsize"
assert_contains "$OUT" "  boot     cd '/home/www' && su 'www' -c '/usr/pkg/sbin/nginx'" "USER and WORKDIR"
assert_contains "$OUT" "PKGS nginx" "smolbsd.addpkgs"
# without -f the context is smolerfiles/: the INCLUDE is not found there
run "$SMOLC" check smolerfiles/Dockerfile.web
assert_eq 2 "$RC" "check without -f: $OUT"
assert_contains "$OUT" "cannot INCLUDE 'smolerfiles/web.inc'" "INCLUDE outside the context"

mkdir -p d1 d2 d3
printf 'FROM scratch\nSERVICE from-docker\n' >d1/Dockerfile
printf 'FROM scratch\nSERVICE from-smoler\n' >d2/SMOLerfile
printf 'FROM scratch\nSERVICE from-smolfile\n' >d3/Smolfile
printf 'FROM scratch\nSERVICE not-this\n' >d3/Dockerfile
run "$SMOLC" check d1
assert_contains "$OUT" "d1/Dockerfile: ok (2 instructions, service from-docker)" "DIR finds its Dockerfile"
run "$SMOLC" check d2
assert_contains "$OUT" "service from-smoler" "DIR finds its SMOLerfile"
run "$SMOLC" check d3
assert_contains "$OUT" "service from-smolfile" "a Smolfile comes first"
mkdir -p empty
run "$SMOLC" check empty
assert_eq 2 "$RC" "a directory without a recipe"
assert_contains "$OUT" "smolc: check: no Smolfile, Dockerfile or SMOLerfile in 'empty'; name the file with -f FILE" "message"
run "$SMOLC" check -f d1/Dockerfile nowhere
assert_eq 2 "$RC" "-f with a context that does not exist"
assert_contains "$OUT" "the build context 'nowhere' is not a directory" "message"
printf 'x\n' >d2/payload
printf 'FROM scratch\nCOPY payload /x\n' >d1/copy.smol
run "$SMOLC" check -f d1/copy.smol d2
assert_eq 0 "$RC" "-f FILE DIR: COPY from DIR: $OUT"
assert_contains "$OUT" "service copy" "a <name>.smol file names the service"

# ---- build and boot, with the Linux test guest ----
. "$ROOT/tests/guest/lib.sh"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
command -v curl >/dev/null || skip "curl not installed"
guest_prepare "$TEST_TMP/guest" >/dev/null || fail "could not prepare the test guest"
port=$(free_port)
export SMOLC_STATE_DIR="$TEST_TMP/state"
name=smolweb-$$
t_on_exit "timeout 30 \"$SMOLC\" stop $name --timeout 10 >/dev/null 2>&1"
mkdir -p web/www
printf 'smoler page\n' >web/www/index.html
ln -s /tmp/who.txt web/www/who.txt    # written at boot by CMD, as the USER
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1000:www:/srv/www:/bin/sh\n' >web/passwd
cat >web/Dockerfile <<SMOL
FROM scratch
LABEL smolbsd.service=smolweb
LABEL smolbsd.publish="$port:8080"
PROFILE linux
SETS $TEST_TMP/guest/busybox.tar.xz
KERNEL $TEST_TMP/guest/vmlinux
INITRD $TEST_TMP/guest/initrd
COPY passwd /etc/passwd
COPY www /srv/www
RC <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin
ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
EOF
EXPOSE 8080
USER www
WORKDIR /srv/www
CMD echo "\$USER in \$(pwd)" >/tmp/who.txt; exec httpd -f -p 8080 -h .
SMOL
run "$SMOLC" build -q -o out web
assert_eq 0 "$RC" "build DIR (its Dockerfile): $OUT"
assert_file out/smolweb-amd64.yaml
run timeout 120 "$SMOLC" run -d --name "$name" out/smolweb-amd64.yaml
assert_eq 0 "$RC" "run -d: $OUT"
run timeout 300 "$SMOLC" wait "$name" --port "$port" --http / --timeout 240
assert_eq 0 "$RC" "wait for the page: $OUT $("$SMOLC" logs "$name" 2>&1 | tail -n 20)"
page=$(curl -fsS -m 10 "http://127.0.0.1:$port/")
assert_eq "smoler page" "$page" "the page, served from the WORKDIR"
who=$(curl -fsS -m 10 "http://127.0.0.1:$port/who.txt")
assert_eq "www in /srv/www" "$who" "CMD ran as the USER (su) in the WORKDIR"
echo ok
