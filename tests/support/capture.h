// Runs a forkexec::Runner and collects what the program writes (header-only: only the tests that
// link forkexec include it).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "tracebox/forkexec/runner.h"

namespace tracebox::test {

struct Output {
  std::string out;
  int status = -1;  // exit code, or 128 + signal
};

// Starts `r` with stdout on a pipe, stdin /dev/null and stderr on the same pipe (`merge_stderr`)
// or inherited; collects the output and reaps the child. Throws instead of asserting, so that
// forked helpers can use it too.
inline Output capture(forkexec::Runner r, bool merge_stderr = false) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  UniqueFd rd(p[0]), wr(p[1]);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  r.files = {null.get(), wr.get(), merge_stderr ? wr.get() : 2};
  forkexec::Child child = r.start();
  wr.reset();
  Output o;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) o.out.append(buf, static_cast<size_t>(n));
  auto e = child.wait();
  o.status = e.info.si_code == CLD_EXITED ? e.info.si_status : 128 + e.info.si_status;
  return o;
}

}  // namespace tracebox::test
