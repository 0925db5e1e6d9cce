// runprog's own memory, faulted in at once before anything runs (see prefault() below).
#include <link.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "tracebox/util/populate.h"

namespace {

constexpr std::size_t kHeap = 1024 * 1024;  // at most this much of the heap
constexpr std::size_t kStack = 64 * 1024;

using tracebox::populate;

// runprog's start took about a hundred page faults (its text, data and heap), each dear where the
// host shadows the guest's page tables (tracebox/util/populate.h). So, before the static
// constructors run, it maps in every loaded segment of the executable (text and read-only data
// read, data and bss written), the malloc heap as far as it goes, and kStack of the main
// thread's stack.
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
            populate(start, end, false);
            continue;
          }
          if (relro.first <= start && start < relro.second) {
            populate(start, std::min(end, relro.second), false);
            start = std::min(end, relro.second);
          }
          populate(start, end, true);
        }
        return 1;  // the executable only (the first object)
      },
      const_cast<std::uintptr_t*>(&page));
  // The malloc heap glibc's start made (about 132 KiB: runprog's start uses most of it).
  const auto end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  const std::uintptr_t size = ::mallinfo2().arena;  // what malloc took from the break, below it
  if (size <= end && size <= kHeap) populate((end - size) & ~(page - 1), end, true);
  // The main thread's stack below this frame: the kernel maps the first 128 KiB of it with the
  // program's arguments, and runprog's deepest calls (a profile's JSON, paths) stay within it.
  tracebox::populate_stack_below(__builtin_frame_address(0), kStack);
}

}  // namespace

// The two input sections text_pad.ld pads to 2 MiB boundaries (it needs one in each segment to
// give the padding the segment's flags).
asm(".section .tracebox_pad,\"ax\",@progbits\n.byte 0xcc\n.previous");
asm(".section .tracebox_pad_ro,\"a\",@progbits\n.byte 0\n.previous");
