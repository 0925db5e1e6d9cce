// runprog's own memory, faulted in at once before anything runs (see prefault() below).
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

constexpr std::size_t kHeap = 1024 * 1024;  // at most this much of the heap
constexpr std::size_t kStack = 64 * 1024;

void populate(std::uintptr_t start, std::uintptr_t end, int advice) {
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, advice);
}

// A page fault is dear where the kernel runs as a guest whose page tables the host shadows: on
// the development VM a first touch of a page costs 12-20 us (a fault-around of 16 text pages
// about the same), and runprog's start takes about a hundred of them (its text, data and heap),
// while MADV_POPULATE_READ/WRITE maps the same pages in one call for well under a microsecond
// each (bench/runprog_bench: see README, Performance). So, before the static constructors run:
// every loaded segment of the executable (text and read-only data read, data and bss written),
// the malloc heap as far as it goes, and kStack of the main thread's stack. A kernel without
// MADV_POPULATE_* (before 5.14) fails the calls, which changes nothing.
__attribute__((constructor(101))) void prefault() {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        const std::uintptr_t size = *static_cast<std::uintptr_t*>(data);
        auto range = [&](const ElfW(Phdr) & ph) {
          return std::pair((info->dlpi_addr + ph.p_vaddr) & ~(size - 1),
                           (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + size - 1) & ~(size - 1));
        };
        // The part of the data made read-only after relocation (PT_GNU_RELRO) is read.
        std::pair<std::uintptr_t, std::uintptr_t> relro{0, 0};
        for (int i = 0; i < info->dlpi_phnum; ++i)
          if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) relro = range(info->dlpi_phdr[i]);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
          auto [start, end] = range(ph);
          if ((ph.p_flags & PF_W) == 0) {
            populate(start, end, MADV_POPULATE_READ);
            continue;
          }
          if (relro.first <= start && start < relro.second) {
            populate(start, std::min(end, relro.second), MADV_POPULATE_READ);
            start = std::min(end, relro.second);
          }
          populate(start, end, MADV_POPULATE_WRITE);
        }
        return 1;  // the executable only (the first object)
      },
      const_cast<std::uintptr_t*>(&page));
  // The malloc heap glibc's start made (about 132 KiB: runprog's start uses most of it).
  const auto end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  const std::uintptr_t size = ::mallinfo2().arena;  // what malloc took from the break, below it
  if (size <= end && size <= kHeap) populate((end - size) & ~(page - 1), end, MADV_POPULATE_WRITE);
  // The main thread's stack below this frame: the kernel maps the first 128 KiB of it with the
  // program's arguments, and runprog's deepest calls (a profile's JSON, paths) stay within it.
  const auto frame = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)) & ~(page - 1);
  populate(frame - kStack, frame, MADV_POPULATE_WRITE);
}

}  // namespace
