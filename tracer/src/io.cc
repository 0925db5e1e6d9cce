#include "io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace tracebox::tracer {
namespace {

std::shared_ptr<const UniqueFd> duplicate(int fd) {
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!dup) throw SystemError(errno, fmt::format("duplicating fd {}", fd));
  return std::make_shared<const UniqueFd>(std::move(dup));
}

UniqueFd open_or_throw(const char* stream, const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
  if (!fd) throw Error(fmt::format("{}: {}: {}", stream, path, errno_text(errno)));
  return fd;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Input Input::null() {
  Input in;
  in.kind_ = Kind::kNull;
  return in;
}

Input Input::bytes(std::string_view data) {
  UniqueFd mem(::memfd_create("tracebox-stdin", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem) throw SystemError(errno, "memfd_create");
  if (!write_all(mem.get(), data)) throw SystemError(errno, "writing the input");
  // Sealed: no run, by any fd or reopening, can change what later runs read.
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !=
      0)
    throw SystemError(errno, "F_ADD_SEALS");
  Input in;
  in.kind_ = Kind::kBytes;
  in.fd_ = std::make_shared<const UniqueFd>(std::move(mem));
  return in;
}

Input Input::file(std::string path) {
  Input in;
  in.kind_ = Kind::kFile;
  in.path_ = std::move(path);
  return in;
}

Input Input::fd(int fd) {
  Input in;
  in.kind_ = Kind::kFd;
  in.fd_ = duplicate(fd);
  return in;
}

Output Output::null() {
  Output out;
  out.kind_ = Kind::kNull;
  return out;
}

Output Output::file(std::string path) {
  Output out;
  out.kind_ = Kind::kFile;
  out.path_ = std::move(path);
  return out;
}

Output Output::fd(int fd) {
  Output out;
  out.kind_ = Kind::kFd;
  out.fd_ = duplicate(fd);
  return out;
}

Output Output::capture(std::uint64_t max_bytes) {
  Output out;
  out.kind_ = Kind::kCapture;
  out.max_bytes_ = max_bytes;
  return out;
}

std::shared_ptr<OpenIo> OpenIo::open(const Io& io, forkexec::Runner& runner,
                                     std::optional<std::uint64_t> output_bytes) {
  if (io.in.kind() == Input::Kind::kUnset && io.out.kind() == Output::Kind::kUnset &&
      io.err.kind() == Output::Kind::kUnset)
    return nullptr;
  auto open = std::make_shared<OpenIo>();
  if (runner.files.size() < 3) runner.files.resize(3, forkexec::kCloseFd);
  auto keep = [&](UniqueFd fd) {
    open->opened_.push_back(std::move(fd));
    return open->opened_.back().get();
  };

  switch (io.in.kind()) {
    case Input::Kind::kUnset:
      break;
    case Input::Kind::kNull:
      runner.files[0] = keep(open_or_throw("stdin", "/dev/null", O_RDONLY));
      break;
    case Input::Kind::kBytes:
      // A file description of its own (its own offset) for the same sealed memory file.
      runner.files[0] = keep(
          open_or_throw("stdin", "/proc/self/fd/" + std::to_string(io.in.held_fd()), O_RDONLY));
      break;
    case Input::Kind::kFile:
      runner.files[0] = keep(open_or_throw("stdin", io.in.path(), O_RDONLY));
      break;
    case Input::Kind::kFd:
      runner.files[0] = io.in.held_fd();
      break;
  }

  // The kernel's stop for every file the run writes: the largest capture's maximum, plus one
  // byte, so that a capture past its maximum is seen even when the program blocks SIGXFSZ and
  // goes on after EFBIG. A smaller capture is held to its own maximum when the run ends.
  std::uint64_t fsize = 0;
  for (int i : {1, 2}) {
    const Output& o = i == 1 ? io.out : io.err;
    const char* stream = i == 1 ? "stdout" : "stderr";
    switch (o.kind()) {
      case Output::Kind::kUnset:
        break;
      case Output::Kind::kNull:
        runner.files[i] = keep(open_or_throw(stream, "/dev/null", O_WRONLY));
        break;
      case Output::Kind::kFile:
        // Opened with the caller's privileges: a symbolic link in the file's place (which a
        // program may have left in a directory it could write) is not followed.
        runner.files[i] =
            keep(open_or_throw(stream, o.path(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW));
        break;
      case Output::Kind::kFd:
        runner.files[i] = o.held_fd();
        break;
      case Output::Kind::kCapture: {
        UniqueFd mem(::memfd_create(i == 1 ? "tracebox-stdout" : "tracebox-stderr", MFD_CLOEXEC));
        if (!mem) throw Error(fmt::format("{}: memfd_create: {}", stream, errno_text(errno)));
        runner.files[i] = mem.get();
        open->captures_.push_back({std::move(mem), o.max_bytes(), i == 2});
        fsize = std::max(fsize, o.max_bytes() == std::numeric_limits<std::uint64_t>::max()
                                    ? o.max_bytes()
                                    : o.max_bytes() + 1);
        break;
      }
    }
  }

  if (!open->captures_.empty()) {
    if (output_bytes) fsize = std::min(fsize, *output_bytes);
    auto it = std::find_if(runner.rlimits.begin(), runner.rlimits.end(),
                           [](const rlimit::RLimit& l) { return l.resource == RLIMIT_FSIZE; });
    if (it == runner.rlimits.end()) {
      runner.rlimits.push_back({RLIMIT_FSIZE, fsize, fsize});
    } else {
      it->cur = std::min<std::uint64_t>(it->cur, fsize);
      it->max = std::min<std::uint64_t>(it->max, fsize);
    }
  }
  return open;
}

void OpenIo::collect(Result& result) const {
  for (const Capture& c : captures_) {
    std::string& to = c.is_stderr ? result.stderr_data : result.stdout_data;
    struct stat st {};
    if (::fstat(c.fd.get(), &st) != 0) continue;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    to.resize(static_cast<std::size_t>(std::min(size, c.max)));
    std::size_t got = 0;
    while (got < to.size()) {
      const ssize_t n =
          ::pread(c.fd.get(), to.data() + got, to.size() - got, static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    to.resize(got);
    const bool ended_by_program = result.status == Status::kNormal ||
                                  result.status == Status::kNonzeroExitStatus ||
                                  result.status == Status::kSignalled;
    if (size > c.max && ended_by_program) {
      result.status = Status::kOutputLimitExceeded;
      result.limit = LimitKind::kOutput;
      result.error = fmt::format("output limit: {} past its {} bytes",
                                 c.is_stderr ? "stderr" : "stdout", c.max);
    }
  }
}

}  // namespace tracebox::tracer
