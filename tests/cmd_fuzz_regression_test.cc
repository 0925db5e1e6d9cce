// Replays every input the fuzzers ever kept (fuzz/regressions/<target>/): each once crashed a
// parser and must now be rejected cleanly (or accepted).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "support/support.h"
#include "targets.h"

namespace {

std::vector<std::filesystem::path> inputs(const std::string& target) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir =
      std::filesystem::path(TRACEBOX_SOURCE_DIR) / "fuzz" / "regressions" / target;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".keep") out.push_back(e.path());
  return out;
}

std::vector<std::uint8_t> bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("kept fuzz inputs for the profile parser", "[fuzz]") {
  for (const auto& p : inputs("profile")) {
    INFO(p.string());
    auto data = bytes(p);
    CHECK_NOTHROW(tracebox::fuzz::profile(data.data(), data.size()));
  }
}

TEST_CASE("kept fuzz inputs for the option parser", "[fuzz]") {
  for (const auto& p : inputs("options")) {
    INFO(p.string());
    auto data = bytes(p);
    CHECK_NOTHROW(tracebox::fuzz::options(data.data(), data.size()));
  }
}
