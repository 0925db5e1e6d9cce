#!/usr/bin/env bash
# Installs the Debian 12 packages tracebox needs (only the missing ones), then configures and
# builds it in ./build (or $TRACEBOX_BUILD_DIR). Extra arguments go to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config            # compiler and build
  libseccomp-dev libasio-dev catch2 libfmt-dev # libraries
  libcli11-dev nlohmann-json3-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format       # fuzzing, formatting
  python3 openjdk-17-jdk-headless strace      # language profiles, benchmark peer
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${TRACEBOX_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRACEBOX_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
