// ptrace-level access to one stopped tracee: its syscall, its memory, skipping its syscall.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "tracebox/tracer/handler.h"

namespace tracebox::tracer::tracee {

// A seccomp stop as PTRACE_GET_SYSCALL_INFO reports it.
struct SyscallInfo {
  std::uint32_t arch = 0;
  long nr = -1;
  std::array<std::uint64_t, 6> args{};
  std::uint16_t ret_data = 0;
  std::uint64_t instruction_pointer = 0;
};

// Fills `out` at a seccomp stop; returns 0 or an errno (ESRCH when the task died meanwhile).
int syscall_info(pid_t tid, SyscallInfo& out);

// Makes the stopped syscall return -err without running (number -1, return value -err).
int skip_syscall(pid_t tid, int err);

// Reads tracee memory: process_vm_readv, falling back to PTRACE_PEEKDATA. 0 or an errno.
int read_memory(pid_t tid, std::uint64_t addr, std::span<std::byte> out);

// Reads a NUL-terminated string of at most `max` bytes (page by page, never past the NUL's page).
StringRead read_string(pid_t tid, std::uint64_t addr, std::size_t max);

}  // namespace tracebox::tracer::tracee
