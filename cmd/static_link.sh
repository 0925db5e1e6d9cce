#!/bin/sh
# runprog's linker launcher (CXX_LINKER_LAUNCHER): runs the link command it is given with each
# shared library replaced by its static archive next to it (libseccomp.so -> libseccomp.a), or
# dropped when the executable provides it itself (libfmt: cmd/fmt_impl.cc), so that runprog links
# fully statically although the library targets name shared libraries.
#   static_link.sh DROP_PATTERN LINKER ARGS...
drop=$1
shift
first=1
for arg in "$@"; do
  if [ "$first" = 1 ]; then
    set --
    first=0
  fi
  case "$arg" in
    /*.so | /*.so.*)
      case "$arg" in
        $drop) continue ;;
      esac
      archive="${arg%%.so*}.a"
      if [ ! -f "$archive" ]; then
        echo "static_link.sh: no static archive for $arg" >&2
        exit 1
      fi
      arg=$archive
      ;;
  esac
  set -- "$@" "$arg"
done
exec "$@"
