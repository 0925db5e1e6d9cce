#!/usr/bin/env bash
# The README's first example: sets everything up (scripts/setup.sh: the missing Debian packages,
# then the build in ./build or $TRACEBOX_BUILD_DIR), then runs the bundled C++ program
# examples/hello under runprog with its bundled input, and prints the verdict: go-sandbox's
# one-line result, then the same run as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build=${TRACEBOX_BUILD_DIR:-build}
runprog=$build/cmd/runprog
hello=$build/cmd/tracebox_example_hello
input=examples/hello/input.txt

echo "\$ $runprog -in $input $hello"
"$runprog" -in "$input" "$hello"
echo "\$ $runprog -json -in $input -out /dev/null $hello"
"$runprog" -json -in "$input" -out /dev/null "$hello"
