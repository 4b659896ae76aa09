#!/bin/bash
# 31-build-cache: layer cache and reproducibility.
#  - a second build is all CACHED, "image up to date", and makes exactly one
#    request: the conditional GET of the unpinned SHA512 list (a 304); the
#    sets are pinned by that list and the kernel by its sha256, so they are
#    never asked for again;
#  - deleting the image and rebuilding from the cache gives the same bytes;
#  - --no-cache rebuilds every layer and gives the same bytes, no download;
#  - an RC change rebuilds only the RC layer;
#  - a COPY source touched (mtime only) stays CACHED, an edit rebuilds it;
#  - --offline with an empty cache names the missing URL, exit 1;
#  - SOURCE_DATE_EPOCH changes the image (and is itself reproducible);
#  - smolc cache ls [--json] / du / prune --all / prune --older-than 0;
#  - sets are content-addressed: the same bytes at another path or under
#    another URL are CACHED.
set -eu
. "$ROOT/tests/lib/common.sh"

export SMOLC_CACHE="$TEST_TMP/cache"
make_mirror "$TEST_TMP/mirror" >/dev/null
http_start "$TEST_TMP/mirror"
export SMOLC_MIRROR="$HTTP_URL"
SHA_REQ="GET /$SETS_REL/SHA512"

mkdir -p svc/www && cd svc
echo "<h1>hello</h1>" >www/index.html
write_recipe() { # $1 = RC echo text
	cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE web
SETS base etc rescue
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
COPY www/index.html /var/www/
RC <<EOR
#!/bin/sh
echo "$1"
EOR
EOF
}
write_recipe "one"
img=images/web-amd64.img

run "$SMOLC" build
expect_rc 0 "cold build"
total=$(step_total "$OUT")
assert_eq 7 "$total" "number of steps"
assert_eq 0 "$(cached_count "$OUT")" "CACHED steps in the cold build"
assert_eq 7 "$(built_count "$OUT")" "built steps in the cold build"
cp "$img" "$TEST_TMP/first.img"
assert_eq 5 "$(http_count)" "requests of the cold build (SHA512, 3 sets, kernel)"

# --- second build: nothing to do ---
run "$SMOLC" build
expect_rc 0 "second build"
assert_eq 7 "$(cached_count "$OUT")" "CACHED steps in the second build"
assert_eq 0 "$(built_count "$OUT")" "built steps in the second build"
assert_contains "$OUT" "7 steps, 7 cached, image up to date" "second build summary"
assert_same_file "$TEST_TMP/first.img" "$img" "image after the second build"
assert_eq 6 "$(http_count)" "requests after the second build"
assert_eq "$SHA_REQ 304" "$(tail -n 1 "$HTTP_LOG")" "the only request of the second build"

# --- image deleted: rebuilt from the cached layers, same bytes ---
rm -rf images
run "$SMOLC" build
expect_rc 0 "rebuild after deleting the image"
assert_eq 7 "$(cached_count "$OUT")" "CACHED steps after deleting the image"
assert_not_contains "$OUT" "image up to date" "rebuild after deleting the image"
assert_same_file "$TEST_TMP/first.img" "$img" "image rebuilt from the cache"
assert_eq 7 "$(http_count)" "requests after deleting the image"
assert_eq "$SHA_REQ 304" "$(tail -n 1 "$HTTP_LOG")" "the only request of the rebuild"

# --- --no-cache: every layer built again, same bytes, downloads stay cached ---
run "$SMOLC" build --no-cache
expect_rc 0 "build --no-cache"
assert_eq 0 "$(cached_count "$OUT")" "CACHED steps with --no-cache"
assert_eq 7 "$(built_count "$OUT")" "built steps with --no-cache"
assert_same_file "$TEST_TMP/first.img" "$img" "image built with --no-cache"
assert_eq 8 "$(http_count)" "requests after --no-cache"
assert_eq "$SHA_REQ 304" "$(tail -n 1 "$HTTP_LOG")" "the only request of --no-cache"

# --- RC change: only the RC layer ---
write_recipe "two"
run "$SMOLC" build
expect_rc 0 "build after an RC change"
assert_eq 6 "$(cached_count "$OUT")" "CACHED steps after an RC change"
assert_eq "RC /etc/rc" "$(built_steps "$OUT")" "steps rebuilt after an RC change"
assert_contains "$(dbg_cat "$img" /etc/rc)" 'echo "two"' "/etc/rc after the change"
cmp -s "$TEST_TMP/first.img" "$img" && fail "the image did not change with the RC text"
assert_fsck_clean "$img"
cp "$img" "$TEST_TMP/two.img"
# and back: the old layers are still there, the image is the first one again
write_recipe "one"
run "$SMOLC" build
expect_rc 0 "build after reverting the RC change"
assert_eq 7 "$(cached_count "$OUT")" "CACHED steps after reverting the RC"
assert_same_file "$TEST_TMP/first.img" "$img" "image after reverting the RC"

# --- COPY source: mtime does not matter, content does ---
touch -d '2001-02-03 04:05:06' www/index.html
run "$SMOLC" build
expect_rc 0 "build after touching the COPY source"
assert_eq 7 "$(cached_count "$OUT")" "CACHED steps after touching the COPY source"
assert_same_file "$TEST_TMP/first.img" "$img" "image after touching the COPY source"
echo "<h1>changed</h1>" >www/index.html
run "$SMOLC" build
expect_rc 0 "build after editing the COPY source"
b=$(built_steps "$OUT")
assert_eq "COPY www/index.html /var/www/" "$(printf '%s\n' "$b" | head -1)" "first rebuilt step after editing the COPY source"
assert_not_contains "$b" "SETS" "rebuilt steps after editing the COPY source"
assert_eq 4 "$(cached_count "$OUT")" "CACHED steps (FROM + 3 SETS) after editing the COPY source"
assert_eq "<h1>changed</h1>" "$(dbg_cat "$img" /var/www/index.html)" "/var/www/index.html after the edit"
echo "<h1>hello</h1>" >www/index.html

# --- SOURCE_DATE_EPOCH ---
SOURCE_DATE_EPOCH=1600000000 run "$SMOLC" build -o sde
expect_rc 0 "build with SOURCE_DATE_EPOCH"
cmp -s "$TEST_TMP/first.img" sde/web-amd64.img && fail "SOURCE_DATE_EPOCH did not change the image"
assert_match "$(dbg_stat sde/web-amd64.img /etc/rc)" "mtime: 0x5f5e1000 " "/etc/rc mtime = SOURCE_DATE_EPOCH"
assert_match "$(dbg_stat "$img" /etc/rc)" "mtime: 0x67748580 " "/etc/rc mtime = default epoch 2025-01-01"
SOURCE_DATE_EPOCH=1600000000 run "$SMOLC" build -o sde2 --no-cache
expect_rc 0 "second build with SOURCE_DATE_EPOCH"
assert_same_file sde/web-amd64.img sde2/web-amd64.img "two builds with the same SOURCE_DATE_EPOCH"

# --- --offline with an empty cache ---
n=$(http_count)
SMOLC_CACHE="$TEST_TMP/empty-cache" run "$SMOLC" build --offline -o offline
expect_rc 1 "build --offline with an empty cache"
assert_contains "$OUT" "fetch $HTTP_URL/$SETS_REL/SHA512: not in the cache and --offline is set" "--offline message"
assert_eq "$n" "$(http_count)" "requests made by an --offline build"
assert_no_file offline/web-amd64.img
# --offline with the full cache: no request at all
run "$SMOLC" build --offline -o offline
expect_rc 0 "build --offline with a full cache"
assert_same_file "$TEST_TMP/first.img" offline/web-amd64.img "--offline image"
assert_eq "$n" "$(http_count)" "requests made by an --offline build with a full cache"

# --- cache ls / du / prune ---
run "$SMOLC" cache ls
expect_rc 0 "cache ls"
assert_contains "$OUT" "$HTTP_URL/$SETS_REL/base.tar.xz" "cache ls lists the base set"
assert_contains "$OUT" "$HTTP_URL/$KERNEL_REL" "cache ls lists the kernel"
assert_match "$OUT" "^layer +[0-9a-f]{16} .* SETS base \(web\)$" "cache ls lists the base layer"
assert_match "$OUT" "^layer +[0-9a-f]{16} .* RC /etc/rc \(web\)$" "cache ls lists the RC layer"
run "$SMOLC" cache du
expect_rc 0 "cache du"
assert_match "$OUT" "^downloads +5 entries" "cache du downloads"
assert_match "$OUT" "^layers +[0-9]+ entries" "cache du layers"
assert_match "$OUT" "^memos +[1-9][0-9]* entr" "cache du memos (file digests)"
run "$SMOLC" cache ls
assert_match "$OUT" "^memo +[0-9a-f]{16} .* file digests$" "cache ls lists the digest memo"
run "$SMOLC" cache ls --json
expect_rc 0 "cache ls --json"
python3 - "$OUT" <<'PY' || fail "cache ls --json: $OUT"
import json, sys
a = json.loads(sys.argv[1])
kinds = {e["kind"] for e in a}
assert {"download", "layer", "memo"} <= kinds, kinds
for e in a:
    assert len(e["key"]) >= 16 and e["size"] >= 0 and e["last_used"].endswith("Z"), e
assert any(e["description"] == "RC /etc/rc (web)" for e in a), a
PY
# --older-than 0: every entry not in use (here: all of them)
run "$SMOLC" cache prune --older-than 0 --dry-run
expect_rc 0 "cache prune --older-than 0 --dry-run"
assert_match "$OUT" "^would prune [1-9][0-9]* entries, would free .*, 0 B left$" "--older-than 0 prunes everything unused"
run "$SMOLC" cache prune --all
expect_rc 0 "cache prune --all"
run "$SMOLC" cache du
assert_match "$OUT" "^total +0 entries" "cache du after prune --all"
[ -z "$(ls -A "$SMOLC_CACHE/layers" 2>/dev/null)" ] || fail "layers left after prune --all: $(ls "$SMOLC_CACHE/layers")"
[ -z "$(ls -A "$SMOLC_CACHE/downloads" 2>/dev/null)" ] || fail "downloads left after prune --all"
[ -z "$(ls -A "$SMOLC_CACHE/digests" 2>/dev/null)" ] || fail "memos left after prune --all"
# and a build after prune downloads again and gives the same image
rm -rf images
run "$SMOLC" build
expect_rc 0 "build after prune"
assert_same_file "$TEST_TMP/first.img" "$img" "image after prune and rebuild"
assert_eq 1 "$(grep -c "^GET /$SETS_REL/base.tar.xz 200\$" <(tail -n 5 "$HTTP_LOG"))" "base.tar.xz downloaded again after prune"
assert_cache_sane "$SMOLC_CACHE"

# --- the same set at another path, URL or name: CACHED (content-addressed) ---
mkdir -p "$TEST_TMP/moved/a" "$TEST_TMP/moved/b" && cd "$TEST_TMP/moved"
cp "$TEST_TMP/mirror/$SETS_REL/etc.tar.xz" a/etc.tar.xz
moved_recipe() { # set word
	cat >Smolfile <<EOF
FROM netbsd-10.1
SERVICE moved
SETS $1
KERNEL $HTTP_URL/$KERNEL_REL sha256:$KERNEL_SHA256
EOF
}
moved_recipe a/etc.tar.xz
run "$SMOLC" build
expect_rc 0 "build with a local set"
assert_match "$OUT" "SETS a/etc.tar.xz +built in" "the local set's first build"
cp images/moved-amd64.img "$TEST_TMP/moved.img"
mv a/etc.tar.xz b/other-name.tar.xz
moved_recipe b/other-name.tar.xz
run "$SMOLC" build
expect_rc 0 "build with the set moved"
assert_match "$OUT" "SETS b/other-name.tar.xz +CACHED" "the same set at another path"
assert_contains "$OUT" "image up to date" "the moved set's image"
mkdir -p "$TEST_TMP/mirror/elsewhere"
cp b/other-name.tar.xz "$TEST_TMP/mirror/elsewhere/copy.tar.xz"
moved_recipe "$HTTP_URL/elsewhere/copy.tar.xz"
run "$SMOLC" build
expect_rc 0 "build with the set at a URL"
assert_match "$OUT" "SETS $HTTP_URL/elsewhere/copy.tar.xz +CACHED" "the same set under a URL"
assert_same_file "$TEST_TMP/moved.img" images/moved-amd64.img "the image of the same set under two paths and a URL"
echo ok
