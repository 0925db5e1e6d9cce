#!/bin/sh
# Rewrites FILE in 8 MiB writes, so that the page cache holds it in 2 MiB folios (see
# cmd/CMakeLists.txt): a copy beside it, the same mode, renamed over it.
#   large_writes.sh FILE
set -eu
file=$1
dd if="$file" of="$file.copy" bs=8M status=none
chmod --reference="$file" "$file.copy"
mv -f "$file.copy" "$file"
