#!/bin/bash
# 38-smolfile-fidelity: Dockerfile-like behaviour a build shows.
#  - LABEL across FROM <recipe>: the recipe's own LABEL wins over its base's
#    in the run config (a base's other labels are kept);
#  - a rescue set named by its path (rescue.tar) is linked like SETS rescue:
#    /sbin/init, /bin/sh and /sbin/mount_ext2fs point into /rescue;
#  - CMD in the exec form ["prog", "arg"] becomes quoted words in /etc/rc;
#    a continuation in CMD joins the lines as they are; COPY ["a b", "/d/"]
#    copies a file whose name has a blank; "# escape=`" keeps backslashes.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
python3 - <<'PY'
import io, tarfile
t = tarfile.open("rescue.tar", "w", format=tarfile.USTAR_FORMAT)
for name, typ, mode, data in [("./rescue", tarfile.DIRTYPE, 0o755, b""),
                              ("./rescue/init", tarfile.REGTYPE, 0o555, b"#!/bin/sh\n"),
                              ("./rescue/sh", tarfile.REGTYPE, 0o555, b"#!/bin/sh\n")]:
    ti = tarfile.TarInfo(name); ti.type = typ; ti.mode = mode; ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data else None)
t.close()
PY
mkdir -p base app
mv rescue.tar base/
printf 'not a kernel\n' >base/kernel
cat >base/Smolfile <<'SMOL'
FROM scratch
SETS rescue.tar
KERNEL ./kernel
LABEL tier=base only=base
SMOL
cat >app/Smolfile <<'SMOL'
FROM base
LABEL tier=app
SMOL

cd app
run "$SMOLC" build -q -o out
assert_eq 0 "$RC" "build FROM base: $OUT"
y=$(cat out/app-amd64.yaml)
assert_contains "$y" 'tier: "app"' "the recipe's LABEL wins over its base's"
assert_contains "$y" 'only: "base"' "a base's other label is kept"

img=out/app-amd64.img
assert_eq "/rescue/init" "$(dbg "$img" "stat /sbin/init" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')" "/sbin/init of a rescue set named by path"
assert_eq "/rescue/sh" "$(dbg "$img" "stat /bin/sh" | sed -n 's/^Fast link dest: "\(.*\)"$/\1/p')" "/bin/sh of a rescue set named by path"

cd ..
mkdir -p exec
printf 'spaced\n' >"exec/a b.txt"
cat >exec/Smolfile <<'SMOL'
# escape=`
FROM base
COPY ["a b.txt", "/srv/"]
CMD ["printf", "%s", "it's", "C:\\dir"]
SMOL
cd exec
run "$SMOLC" build -q -o out
assert_eq 0 "$RC" "build with exec forms: $OUT"
rc=$(dbg_cat out/exec-amd64.img /etc/rc)
assert_eq "'printf' '%s' 'it'\''s' 'C:\dir'" "$(printf '%s\n' "$rc" | tail -n 1)" "CMD exec form in /etc/rc"
assert_eq "spaced" "$(dbg_cat out/exec-amd64.img "\"/srv/a b.txt\"")" "COPY [\"a b.txt\", \"/srv/\"]"

cd ..
mkdir -p join
cat >join/Smolfile <<'SMOL'
FROM base
CMD echo light\

    # a comment line inside the continuation
ning
SMOL
cd join
run "$SMOLC" build -q -o out
assert_eq 0 "$RC" "build with a continuation in CMD: $OUT"
assert_eq "echo lightning" "$(dbg_cat out/join-amd64.img /etc/rc | tail -n 1)" "CMD joined as Dockerfile does"
echo ok
