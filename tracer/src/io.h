// A run's standard streams (Spec::io), opened for one run, and what it captured.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "tracebox/tracer/tracer.h"

namespace tracebox::tracer {

// The files of one run's Io: owns what was opened for it until the run's Result is made.
class OpenIo {
 public:
  // Opens the set streams of `io` into runner.files[0..2] (padding the table with closed
  // entries) and, for captures, sets the run's RLIMIT_FSIZE (see Output::capture), whose
  // backstop would otherwise be `output_bytes`. nullptr when no stream is set. Throws Error
  // naming the stream and the file.
  static std::shared_ptr<OpenIo> open(const Io& io, forkexec::Runner& runner,
                                      std::optional<std::uint64_t> output_bytes);
  // Copies the captured bytes into `result`; a capture grown past its maximum makes a verdict
  // the program chose (normal, nonzero exit, signalled) output_limit_exceeded.
  void collect(Result& result) const;

 private:
  struct Capture {
    UniqueFd fd;
    std::uint64_t max = 0;
    bool is_stderr = false;
  };
  std::vector<UniqueFd> opened_;
  std::vector<Capture> captures_;
};

}  // namespace tracebox::tracer
