// Runs a seccomp BPF program on chosen seccomp_data, as the kernel's classic-BPF interpreter
// does: the exact SECCOMP_RET_* value a syscall would get, for tests of built filters.
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <vector>

namespace tracebox::test {

// The SECCOMP_RET_* value `code` returns for syscall `nr` of `arch` with `args`; fails the test
// on an instruction a seccomp filter cannot hold.
std::uint32_t run_bpf(const std::vector<sock_filter>& code, std::uint32_t arch, long nr,
                      const std::array<std::uint64_t, 6>& args = {});

}  // namespace tracebox::test
