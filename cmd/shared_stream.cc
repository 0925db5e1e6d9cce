#include "shared_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

namespace tracebox::cmd {
namespace {

// The same open file, or the same file through two opens (a pipe, a terminal, a regular file).
bool same_stream(int a, int b) {
  if (a < 0 || b < 0) return false;
  if (a == b) return true;
  struct stat sa {
  }, sb{};
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && sa.st_rdev == sb.st_rdev;
}

}  // namespace

SharedStream::~SharedStream() {
  write_end_.reset();
  if (copier_.joinable()) copier_.join();
}

void SharedStream::interpose(std::vector<int>& files, int result_fd) {
  // Nobody reads what goes to /dev/null: the result needs no line of its own there.
  struct stat st {};
  if (::fstat(result_fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) return;
  for (std::size_t i = 1; i < files.size() && i <= 2; ++i) {
    if (!same_stream(files[i], result_fd)) continue;
    if (!write_end_) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return;  // the program then shares the stream as before
      read_end_.reset(p[0]);
      write_end_.reset(p[1]);
      target_ = result_fd;
      copier_ = std::thread([this] {
        char buf[65536];
        for (;;) {
          const ssize_t n = ::read(read_end_.get(), buf, sizeof buf);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          ends_line_ = buf[n - 1] == '\n';
          for (ssize_t done = 0; done < n;) {
            const ssize_t w = ::write(target_, buf + done, static_cast<std::size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;  // the stream is gone: keep draining the pipe
            done += w;
          }
        }
      });
    }
    files[i] = write_end_.get();
  }
}

void SharedStream::finish() {
  if (!copier_.joinable()) return;
  write_end_.reset();  // the program's copies are gone with its processes: EOF
  copier_.join();
  if (!ends_line_) {
    while (::write(target_, "\n", 1) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace tracebox::cmd
