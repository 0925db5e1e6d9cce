// The fuzz targets' bodies, shared by the libFuzzer binaries (fuzz/) and the regression test
// that replays every input kept in fuzz/regressions/ (tests/cmd_fuzz_regression_test.cc).
// Each accepts any bytes; a clean rejection (ProfileError, UsageError) is fine, anything else
// (a crash, another exception, a sanitizer report) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tracebox::fuzz {

// The bytes as a profile document: parse it, then turn it into a policy.
void profile(const std::uint8_t* data, std::size_t size);
// The bytes as a command line: NUL-separated arguments after "runprog".
void options(const std::uint8_t* data, std::size_t size);

}  // namespace tracebox::fuzz
