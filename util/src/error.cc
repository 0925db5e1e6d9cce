#include "tracebox/util/error.h"

#include <string.h>

#include <string>

namespace tracebox {

SystemError::SystemError(int err, std::string_view what)
    : Error(std::string(what) + ": " + errno_text(err)), err_(err) {}

std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  std::string text = "E";
  text += std::to_string(err);
  return text;
}

std::string errno_text(int err) {
  const char* text = strerrordesc_np(err);
  return text != nullptr ? std::string(text) : "Unknown error " + std::to_string(err);
}

}  // namespace tracebox
