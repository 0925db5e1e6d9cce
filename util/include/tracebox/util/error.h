// The exception types thrown at the library's API boundaries.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace tracebox {

// Base of every exception the tracebox libraries throw.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration that cannot be honoured; nothing was started.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A system call failed in the calling process; `code()` is its errno.
class SystemError : public Error {
 public:
  SystemError(int err, std::string_view what);
  int code() const { return err_; }

 private:
  int err_;
};

// "ENOENT" for ENOENT; "E<number>" for a value without a name.
std::string errno_name(int err);
// strerror(err) without the thread-safety problems of strerror.
std::string errno_text(int err);

}  // namespace tracebox
