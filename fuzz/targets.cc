#include "targets.h"

#include <span>
#include <string>
#include <vector>

#include "options.h"
#include "tracebox/tracer/policy/judge.h"
#include "tracebox/tracer/policy/profile.h"

namespace tracebox::fuzz {

void profile(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    tracer::policy::Profile p = tracer::policy::parse_profile(text, "fuzz input");
    auto judge =
        tracer::policy::to_judge_policy(p, {"/work", "/work/prog", "x86_64-linux-gnu"}, true);
    (void)tracer::policy::make_policy(judge);
  } catch (const tracer::policy::ProfileError&) {
  } catch (const ConfigError&) {
  }
}

void options(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args;
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(static_cast<char>(data[i]));
    }
  }
  if (!current.empty()) args.push_back(std::move(current));
  try {
    (void)cmd::parse_options(std::span<const std::string>(args));
  } catch (const cmd::UsageError&) {
  }
}

}  // namespace tracebox::fuzz
