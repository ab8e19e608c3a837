#!/bin/bash
# The whole test suite, as the README's second command and CI run it:
# installs what is missing, builds a release build and an ASan+UBSan build,
# and runs ctest on both (the sanitizer run's ctest summary comes last); in
# between, the interpreter's tests (its thread pool, and every kernel split
# between threads) run under ThreadSanitizer.
#   sudo tools/test.sh            # or as root
#   LRSC_SKIP_SETUP=1 tools/test.sh   # when the packages are known present
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LRSC_SKIP_SETUP:-}" ]; then
    tools/setup.sh
fi
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --no-tests=error --output-on-failure -j"$jobs")

echo "== fuzzing smoke run (every libFuzzer target, 30 s each, on its seed corpus)"
tools/fuzz.sh all "${LRSC_FUZZ_SECONDS:-30}"

echo "== thread sanitizer build (the interpreter's tests)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLRSC_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target test_interp test_interp_ops
(cd build-tsan/tests && for t in test_interp test_interp_ops; do
    TSAN_OPTIONS=halt_on_error=1 ./"$t" >"$t.log" 2>&1 || { cat "$t.log"; exit 1; }
    tail -n 1 "$t.log"
done)

echo "== sanitizer build (ASan + UBSan, leak checking on)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLRSC_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --no-tests=error --output-on-failure -j"$jobs" -LE slow)
