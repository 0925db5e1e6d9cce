#include "tracebox/util/unique_fd.h"

#include <unistd.h>

namespace tracebox {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // close(2) is never retried on EINTR on Linux.
  fd_ = fd;
}

}  // namespace tracebox
