// Rules as the builder works on them (a syscall name, an action, conditions), the small algebra
// of conditions that build() needs, and the BPF of one syscall's argument checks.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tracebox/seccomp/filter.h"

namespace tracebox::seccomp::detail {

inline constexpr std::uint64_t kMax64 = ~std::uint64_t{0};
inline constexpr std::uint64_t kMax32 = 0xffffffff;

struct Rule {
  std::string syscall;
  Action action;
  std::vector<ArgCondition> conds;  // all must hold
  friend bool operator==(const Rule&, const Rule&) = default;
};

// Whether `op` compares the low 32 bits of its argument only.
inline bool is_low32(ArgCondition::Op op) {
  return op == ArgCondition::Op::kLt32 || op == ArgCondition::Op::kLe32 ||
         op == ArgCondition::Op::kGt32 || op == ArgCondition::Op::kGe32;
}

// "allow (unconditional)", "trace(3) when arg1 >= 0x100000 && arg2 == 0x5".
std::string describe(const Rule& r);

// Whether the ABI's syscall arguments are 32-bit (the kernel reads the low half of each
// seccomp_data.args[] entry), as on i386 (and x32 in libseccomp's view; build() does not compare
// x32 arguments at all).
bool args_are_32bit(std::uint32_t arch);

// Adds `c` to the conditions of `r` for an ABI whose arguments are 0..max, rewriting it for that
// range (arg < 2^32 + 5 always holds on a 32-bit ABI) and dropping it when redundant. False when
// `r` can then never match.
bool narrow(Rule& r, ArgCondition c, std::uint64_t max);

// True when some argument is compared by both rules in ways that no value satisfies together.
// False also means "cannot tell" (a range against a bit pattern is not analysed).
bool exclusive(const Rule& a, const Rule& b);

// The complement of a masked_eq condition as disjoint masked_eq conditions.
std::vector<ArgCondition> complement(const ArgCondition& masked_eq);

// BPF that checks the conditional rules of one syscall in order and returns the action of the
// first whose conditions all hold, else `otherwise`. Every comparison loads its argument word
// itself. Throws BuildError when a rule is too long for BPF's 8-bit jumps.
std::vector<sock_filter> argument_checks(const std::vector<Rule>& rules, const Action& otherwise,
                                         std::uint32_t arch);

}  // namespace tracebox::seccomp::detail
