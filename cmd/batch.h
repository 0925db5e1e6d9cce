// runprog -batch: a worker that any language can drive through a pipe. It reads one JSON run
// request per line on stdin and writes one JSON result per line on stdout, tagged with the
// request's "id", as each run completes; up to -j runs are in flight at once on one tracer
// (tracer::async_run on one io_context). The formats follow go-judge's field names where they
// mean the same thing; the README describes them with examples.
//
// A thin layer over the library: each distinct profile (type, allowProc, unsafe, whether memory
// is limited) is prepared once (policy::PreparedProfile) and its filter reused; a request becomes
// a policy::RunRequest with owned I/O (Input::bytes / file, Output::capture / file), and
// PreparedProfile::spec makes the run's Spec as for runprog's single run.
//
// Lifetime: at EOF on stdin the worker finishes the requests it has read, writes their results
// and exits 0. SIGTERM, SIGINT or SIGHUP, or a failed write to stdout (EPIPE), cancels every run
// (each killed and reaped by the tracer) and the worker exits non-zero without writing more. If
// the worker itself is killed (SIGKILL), its programs die with it: every tracee has
// PTRACE_O_EXITKILL and each run's PID namespace init has PR_SET_PDEATHSIG(SIGKILL) (whatever a
// program left in its namespace dies with that init).
#pragma once

#include "options.h"
#include "setup.h"

namespace tracebox::cmd {

// Serves requests on fds 0 and 1 until EOF or a stop (see above); returns the exit code: 0 after
// EOF, 1 when stdout or stdin failed, 128 + the signal after a signal. `options` holds the
// defaults of every request (limits, profile, work path, grants) and -j, -profile-dir.
int run_batch(const Options& options, const Environment& env);

}  // namespace tracebox::cmd
