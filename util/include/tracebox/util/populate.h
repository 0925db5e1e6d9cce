// Memory mapped in before it is used. Where the host shadows the guest's page tables a page
// fault costs 12-20 us (the development VM; README, Performance), while MADV_POPULATE_READ and
// MADV_POPULATE_WRITE map the same pages for under a microsecond each. A kernel before 5.14
// refuses the advice, which changes nothing: these are hints.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace tracebox {

// Maps [start, end) in: read-only pages for reading, others written (private copies, zeroed
// anonymous pages). `start` is page-aligned.
inline void populate(std::uintptr_t start, std::uintptr_t end, bool write) {
  if (end > start)
    ::madvise(reinterpret_cast<void*>(start), end - start,
              write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

// Maps in the `bytes` of the calling thread's stack below `frame` (the caller's
// __builtin_frame_address(0)), where its coming calls will run.
inline void populate_stack_below(const void* frame, std::size_t bytes) {
  constexpr std::uintptr_t kPage = 4096;
  const auto top = reinterpret_cast<std::uintptr_t>(frame) & ~(kPage - 1);
  populate(top - bytes, top, true);
}

}  // namespace tracebox
