// libFuzzer entry point for runprog's option parser.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tracebox::fuzz::options(data, size);
  return 0;
}
