#!/usr/bin/env bash
# Installs the language toolchains from Debian (apt-get, only the missing packages) and runs the
# language matrix (tests/cmd_languages_test.cc: every profile of cmd/profiles on real programs).
#
#   scripts/languages.sh              install every toolchain, build, run the matrix
#   scripts/languages.sh --ci         install the toolchains CI installs, and stop (.ci/run)
#   scripts/languages.sh --install    install every toolchain, and stop
#
# Install times measured on a Debian 12 machine of this project (2 CPUs; apt-get install
# --no-install-recommends, downloads included), which decide what CI installs:
#   pypy3 47 s, python3-numpy 32 s, golang-go 28 s, rustc 29 s, ruby 23 s, php-cli 40-90 s,
#   lua5.4 20 s, ocaml-nox 53 s, gdc 31 s                       -> CI: about 5 minutes
#   mono-mcs + mono-runtime 59 s, ghc 44 s, ldc 31 s, kotlin 104 s  -> here only: 4 more minutes
# gcc, g++, clang, Python 3.11, OpenJDK 17 (scripts/setup.sh), Node.js, Free Pascal, gfortran and
# Perl are on a new machine already. A toolchain that is not installed makes its test skip, saying
# which package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ci_packages=(
  pypy3 python3-numpy golang-go rustc ruby php-cli lua5.4 ocaml-nox gdc
  gcc g++ clang python3 openjdk-17-jdk-headless nodejs fp-compiler fp-units-rtl gfortran perl
)
all_packages=("${ci_packages[@]}" mono-mcs mono-runtime ghc ldc kotlin)

mode=all
case "${1:-}" in
  --ci) mode=ci ;;
  --install) mode=install ;;
  "") ;;
  *) echo "usage: scripts/languages.sh [--ci|--install]" >&2; exit 2 ;;
esac
if [[ $mode == ci ]]; then packages=("${ci_packages[@]}"); else packages=("${all_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "languages: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "languages: installing ${missing[*]}"
  start=$SECONDS
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "languages: installed in $((SECONDS - start)) s"
fi
[[ $mode == all ]] || exit 0

scripts/setup.sh
cd "${TRACEBOX_BUILD_DIR:-build}"
# One run at a time: each test compiles and starts runtimes, and loads both CPUs on purpose.
ctest --output-on-failure -R "^languages:"
