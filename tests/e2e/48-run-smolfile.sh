#!/bin/bash
# `smolc run Smolfile|DIR` never rebuilds behind the user's back:
#   - --dry-run on an unbuilt recipe builds nothing and says to build;
#   - after `smolc build --build-arg PORT=N`, run uses that image and its
#     run config as they are (no build, nothing rewritten);
#   - a changed recipe: --dry-run warns that the image is stale and still
#     builds nothing; run rebuilds, says so, with the recorded build-args
#     (PORT=N stays in the run config and in QEMU's argv).
# Offline: FROM scratch with a local set and a dummy kernel; a fake QEMU
# prints its argv.
set -uo pipefail
"$SMOLC" run --help 2>/dev/null | grep -q -- --dry-run || { echo "smolc run is not wired into this binary"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
export SMOLC_CACHE=$TEST_TMP/cache SMOLC_STATE_DIR=$TEST_TMP/state SMOLC_COLOR=never
unset QEMU_ACCEL
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p app bin
python3 - <<'PY'
import io, tarfile, lzma
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    for name, mode, typ in (("./bin", 0o755, tarfile.DIRTYPE), ("./etc", 0o755, tarfile.DIRTYPE)):
        i = tarfile.TarInfo(name); i.type = typ; i.mode = mode; t.addfile(i)
    data = b"#!/bin/sh\n"
    i = tarfile.TarInfo("./bin/sh"); i.mode = 0o755; i.size = len(data); t.addfile(i, io.BytesIO(data))
open("app/base.tar.xz", "wb").write(lzma.compress(buf.getvalue()))
PY
head -c 4096 /dev/zero > app/vmlinux
echo one > app/page.txt
cat > app/Smolfile <<'S'
ARG PORT=8080
FROM scratch
SERVICE app
PROFILE linux
SETS ./base.tar.xz
KERNEL ./vmlinux
COPY page.txt /page.txt
PORTS ${PORT}:80
S
printf '#!/bin/sh\nprintf "%%s\\n" "$*" > "%s/qemu-argv"\nexit 0\n' "$PWD" > bin/qemu-system-x86_64
chmod +x bin/qemu-system-x86_64
export SMOLC_QEMU=$PWD/bin/qemu-system-x86_64

# 1. --dry-run on an unbuilt recipe: nothing built
"$SMOLC" run --dry-run --accel tcg app/Smolfile >out 2>err; rc=$?
[ $rc -eq 1 ] || fail "dry-run unbuilt: exit $rc: $(cat err)"
grep -qx 'smolc: run --dry-run: images/app-amd64.img is not built; build it first: smolc build app/Smolfile' err \
	|| fail "dry-run unbuilt message: $(cat err)"
[ ! -e images/app-amd64.img ] && [ ! -e images/app-amd64.yaml ] || fail "dry-run built something: $(ls images)"

# 2. built with a build-arg: run uses it as it is
"$SMOLC" build -q --build-arg PORT=18999 app/Smolfile 2>err || fail "build: $(cat err)"
grep -q '^build_args:$' images/app-amd64.yaml && grep -q '^- "PORT=18999"$' images/app-amd64.yaml \
	|| fail "build_args not recorded: $(cat images/app-amd64.yaml)"
before=$(stat -c '%i %Y %s' images/app-amd64.img images/app-amd64.yaml)
"$SMOLC" run --dry-run --accel tcg app/Smolfile >out 2>err || fail "dry-run built: $(cat err)"
grep -q 'hostfwd=tcp:127.0.0.1:18999-:80 ' out || fail "dry-run argv lacks the built port: $(cat out)"
"$SMOLC" run --accel tcg app >out 2>err || fail "run DIR: $(cat err)"
grep -q 'building' err && fail "run rebuilt an up-to-date image: $(cat err)"
grep -q 'hostfwd=tcp:127.0.0.1:18999-:80 ' qemu-argv || fail "QEMU argv: $(cat qemu-argv)"
[ "$before" = "$(stat -c '%i %Y %s' images/app-amd64.img images/app-amd64.yaml)" ] || fail "run rewrote the image or run config"

# 3. the recipe changed: dry-run warns only; run rebuilds with the same build-args
echo two > app/page.txt
"$SMOLC" run --dry-run --accel tcg app/Smolfile >out 2>err || fail "dry-run stale: $(cat err)"
grep -qx "smolc: warning: images/app-amd64.img is stale (app/Smolfile changed since it was built); \`smolc run\` would rebuild it first" err \
	|| fail "dry-run stale message: $(cat err)"
[ "$before" = "$(stat -c '%i %Y %s' images/app-amd64.img images/app-amd64.yaml)" ] || fail "dry-run rebuilt"
"$SMOLC" run --accel tcg app/Smolfile >out 2>err || fail "run stale: $(cat err)"
grep -qx 'smolc: building app/Smolfile (the image is stale) with --build-arg PORT=18999' err || fail "rebuild message: $(cat err)"
grep -q 'hostfwd=tcp:127.0.0.1:18999-:80 ' qemu-argv || fail "QEMU argv after the rebuild: $(cat qemu-argv)"
grep -q '^- "PORT=18999"$' images/app-amd64.yaml || fail "rebuild lost the build-args: $(cat images/app-amd64.yaml)"
"$SMOLC" run --accel tcg app/Smolfile >out 2>err || fail "run again: $(cat err)"
grep -q 'building' err && fail "second run rebuilt: $(cat err)"
echo ok
