#!/bin/bash
# tests/fuzz/run.sh [SECONDS] — build the fuzzers and run each for a
# bounded time: the front end for SECONDS (default 60), archive reading
# (layer_import_archive: a set into a layer) and pkg_summary parsing and
# resolution for a third of it each. Fails on a crash, a leak, a timeout
# (an input that takes more than 5 s) or running out of memory. Seed
# corpora: every tests/parse/*.smol, tests/plan/*.smol and Smolfile under
# examples/ and services/; small tar, tgz, txz and cpio archives of the
# tests' own files; the synthetic package repository's pkg_summary. New
# inputs go to build/fuzz/corpus*/ (kept between runs), crashes to
# build/fuzz/crash-*.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-60}
cd "$ROOT"
command -v clang >/dev/null || { echo "clang is needed to build the fuzzer"; exit 77; }
make -s fuzzers
SEEDS=build/fuzz/seeds
CORPUS=build/fuzz/corpus
rm -rf "$SEEDS"
mkdir -p "$SEEDS" "$CORPUS"
i=0
for f in tests/parse/*.smol tests/plan/*.smol examples/*/Smolfile services/*/Smolfile tests/parse/inc/* tests/plan/files/*.inc; do
	[ -f "$f" ] || continue
	# keep seeds within -max_len (the long-line fixture is not useful here)
	[ "$(stat -c %s "$f")" -le 4096 ] || continue
	cp "$f" "$SEEDS/seed-$i"
	i=$((i + 1))
done
echo "fuzz_parse: $i seeds, ${SECONDS_TO_RUN}s"
# ASAN_OPTIONS: leaks are failures; abort so libFuzzer reports the input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
build/fuzz/fuzz_parse -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix=build/fuzz/ -print_final_stats=1 -dict=tests/fuzz/smolfile.dict "$CORPUS" "$SEEDS"

# archives: a few small sets of every compression the importer reads
ASEEDS=build/fuzz/seeds-archive
rm -rf "$ASEEDS" && mkdir -p "$ASEEDS" build/fuzz/corpus-archive
tar -C tests -cf "$ASEEDS/a.tar" parse/inc plan/files
tar -C tests -czf "$ASEEDS/a.tgz" parse/inc
tar -C tests -cJf "$ASEEDS/a.txz" plan/files
(cd tests && find parse/inc | cpio -o -H newc 2>/dev/null) >"$ASEEDS/a.cpio" || rm -f "$ASEEDS/a.cpio"
T=$(( SECONDS_TO_RUN / 3 > 5 ? SECONDS_TO_RUN / 3 : 5 ))
echo "fuzz_archive: $(ls "$ASEEDS" | wc -l) seeds, ${T}s"
build/fuzz/fuzz_archive -max_total_time="$T" -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus-archive "$ASEEDS"

# package catalogues: the synthetic repositories' pkg_summary
PSEEDS=build/fuzz/seeds-pkgsummary
rm -rf "$PSEEDS" && mkdir -p "$PSEEDS" build/fuzz/corpus-pkgsummary
for opt in --all --diamond --install-scripts; do
	python3 tests/lib/mkpkgrepo.py "$PSEEDS/repo" "$opt" >/dev/null
	cp "$PSEEDS/repo/All/pkg_summary" "$PSEEDS/summary${opt}"
	rm -rf "$PSEEDS/repo"
done
echo "fuzz_pkgsummary: $(ls "$PSEEDS" | wc -l) seeds, ${T}s"
build/fuzz/fuzz_pkgsummary -max_total_time="$T" -max_len=16384 -timeout=5 -rss_limit_mb=2048 \
	-artifact_prefix=build/fuzz/ -print_final_stats=1 build/fuzz/corpus-pkgsummary "$PSEEDS"
