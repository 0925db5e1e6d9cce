// Running a prepared runprog run: under the tracer (-runner ptrace) or in namespaces without a
// tracer (-runner ns). Both give a tracer::Result.
#pragma once

#include <functional>

#include "setup.h"
#include "tracebox/mount/mount.h"
#include "tracebox/seccomp/filter.h"
#include "tracebox/tracer/result.h"

namespace tracebox::cmd {

// The traced run of `prepared` (its observer set for -trace-log and -show-trace-details), traced
// by the calling thread itself (tracer::run_on_this_thread). SIGINT and SIGTERM cancel it (it
// ends as a runner error, reported all the same). `done`, when given, gets the result as soon as
// the run ended, before the tracer is wound down: runprog reports it there and exits.
tracer::Result run_ptrace(Prepared& prepared,
                          const std::function<void(const tracer::Result&)>& done = {});

// The run in namespaces: see ns_mounts and ns_filter, and --help for its accounting.
tracer::Result run_ns(Prepared& prepared);

// The ns runner's mounts: read-only binds of /usr /bin /lib /lib64 /etc/alternatives
// /etc/fpc.cfg /var/lib/ghc (those that exist); /dev/null, /dev/zero, /dev/random and
// /dev/urandom as nodes of their own in a read-only tmpfs when `root` (runprog is root and makes
// no user namespace), else the host's bound read-only; a read-only /proc; tmpfs w (the program's
// user's) and tmp, each at most the memory limit; the -add-readable (read-only) and
// -add-writable (read-write) paths at their own paths, and the program when no other bind holds
// it. Targets are relative to the new root. Throws UsageError for a path that cannot be bound.
mount::Builder ns_mounts(const Prepared& prepared, bool root);

// The ns runner's filter: the profile's allowed syscalls (path ones too: the mount namespace
// confines files) and budgeted ones allowed, denied ones failing with their errno, clone3 with
// ENOSYS (glibc then uses clone), everything else (and other ABIs) killing the process; with
// -unsafe the default is EACCES instead.
seccomp::Builder ns_filter(const Prepared& prepared);

}  // namespace tracebox::cmd
