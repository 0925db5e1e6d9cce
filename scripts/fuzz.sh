#!/usr/bin/env bash
# Fuzzes runprog's option parser and the profile parser with libFuzzer for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# A crashing input is written to fuzz/regressions/<target>/, where the regression test
# (tests/cmd_fuzz_regression_test.cc) replays it from then on; the script then fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${TRACEBOX_FUZZ_BUILD_DIR:-build-fuzz}
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    { echo "fuzz: package $p is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
CC=clang CXX=clang++ cmake -S . -B "$build" -DTRACEBOX_FUZZ=ON -DTRACEBOX_TESTS=OFF \
  -DTRACEBOX_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target profile_fuzz options_fuzz -j "$(nproc)"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/profile" "$corpus/options"
cp cmd/profiles/*.json "$corpus/profile/"
cp fuzz/regressions/profile/* "$corpus/profile/" 2>/dev/null || true
cp fuzz/regressions/options/* "$corpus/options/" 2>/dev/null || true
i=0
for line in "-tl 1 -ml 64 ./a.out" "--tl=0.5 -json -count -- prog arg" \
            "-type python3 -add-readable /tmp -add-writable-raw /w/ x.py" \
            "-runner ns -in in.txt -out out.txt -res r.txt prog" "-unsafe=false -rtl 3 --help"; do
  printf '%s' "$line" | tr ' ' '\0' > "$corpus/options/seed$((i++))"
done

status=0
for target in profile options; do
  before=$(ls fuzz/regressions/$target | wc -l)
  "$build/fuzz/${target}_fuzz" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="fuzz/regressions/$target/" "$corpus/$target" 2>&1 | tail -n 12 || status=1
  after=$(ls fuzz/regressions/$target | wc -l)
  if [[ $after -gt $before ]]; then
    echo "fuzz: $target: new crashing input(s) in fuzz/regressions/$target/" >&2
    status=1
  fi
done
exit $status
