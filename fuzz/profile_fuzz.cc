// libFuzzer entry point for the profile parser.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tracebox::fuzz::profile(data, size);
  return 0;
}
