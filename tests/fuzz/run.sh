#!/bin/bash
# tests/fuzz/run.sh [SECONDS] — build the front-end fuzzer and run it for a
# bounded time (default 60 s). Fails on a crash, a leak, a timeout (an input
# that takes more than 5 s) or running out of memory. The seed corpus is
# every tests/parse/*.smol, tests/plan/*.smol and Smolfile under examples/
# and services/; new inputs go to build/fuzz/corpus (kept between runs),
# crashes to build/fuzz/crash-*.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-60}
cd "$ROOT"
command -v clang >/dev/null || { echo "clang is needed to build the fuzzer"; exit 77; }
make -s build/fuzz/fuzz_parse
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
