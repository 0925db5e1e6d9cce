#!/bin/sh
# count_bench.sh: the cost of tracing every syscall of a syscall-heavy program (g++ compiling a
# small C++ file: its driver, cc1plus, as, thousands of header lookups), all on one CPU:
#   untraced     g++ alone
#   runprog      runprog -count -type compiler (every allowed syscall traced, counted, checked)
#   strace       strace -f -c (every syscall traced and counted)
# ROUNDS rounds (default 7), the three in turn in each; prints each one's median wall time and
# its ratio to the untraced compile.
#
#   bench/count_bench.sh BUILD_DIR [ROUNDS] [CPU]
set -eu
build=${1:?usage: count_bench.sh BUILD_DIR [ROUNDS] [CPU]}
rounds=${2:-7}
cpu=${3:-$(($(nproc) - 1))}
runprog=$(cd "$build" && pwd)/cmd/runprog
work=$(mktemp -d /tmp/tracebox-count-XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work"
cat > "$work/a.cpp" <<'CPP'
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>
int main() {
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 10; ++i) m[std::to_string(i)].push_back(i);
  for (auto& [k, v] : m) std::cout << k << ' ' << v.size() << '\n';
}
CPP
cd "$work"
now() { date +%s%N; }
run() {  # prints the wall time of "$@" in microseconds
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "count_bench: failed: $*" >&2; exit 1; }
  echo $((($(now) - t0) / 1000))
}
for i in $(seq "$rounds"); do
  run taskset -c "$cpu" g++ -c a.cpp -o a.o >>untraced
  run taskset -c "$cpu" "$runprog" -count -type compiler -tl 60 -rtl 120 -ml 2048 \
    -work-path "$work" -- /usr/bin/g++ -c a.cpp -o a.o >>runprog
  run taskset -c "$cpu" strace -f -c -o /dev/null g++ -c a.cpp -o a.o >>strace
done
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
base=$(median untraced)
calls=$(taskset -c "$cpu" "$runprog" -count -type compiler -tl 60 -rtl 120 -ml 2048 \
  -work-path "$work" -- /usr/bin/g++ -c a.cpp -o a.o 2>&1 >/dev/null | awk '/^total/ {print $2}')
echo "g++ -c a.cpp on CPU $cpu, $rounds rounds interleaved, medians ($calls syscalls traced)"
echo "| variant | wall | x untraced |"
echo "|---|---|---|"
for v in untraced runprog strace; do
  m=$(median "$v")
  echo "| $v | $((m / 1000)) ms | $(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}') |"
done
