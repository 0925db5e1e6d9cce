// Rules as the builder works on them: a syscall name, an action and conditions, and the small
// algebra of conditions that build() needs (merging two comparisons of one argument, proving two
// rules exclusive, the complement of a bit pattern, 32-bit ABIs).
#pragma once

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
  std::vector<ArgCondition> conds;  // once narrowed: at most one per argument
  friend bool operator==(const Rule&, const Rule&) = default;
};

// "allow (unconditional)", "trace(3) when arg1 >= 0x100000 && arg2 == 0x5".
std::string describe(const Rule& r);

enum class Narrowed {
  kOk,      // `r` now also requires the condition
  kNever,   // `r` can never match
  kCannot,  // one libseccomp comparison cannot express both comparisons of the argument
};

// Adds `c` to the conditions of `r` for an ABI whose arguments are 0..max (kMax32 where the
// kernel and libseccomp read the low 32 bits), merging it with a comparison of the same argument
// when one comparison expresses both (eq with anything, masked_eq with masked_eq).
Narrowed narrow(Rule& r, ArgCondition c, std::uint64_t max);

// True when some argument is compared by both rules in ways that no value satisfies together.
// False also means "cannot tell" (a range against a bit pattern is not analysed).
bool exclusive(const Rule& a, const Rule& b);

// The complement of a masked_eq condition as disjoint masked_eq conditions.
std::vector<ArgCondition> complement(const ArgCondition& masked_eq);

}  // namespace tracebox::seccomp::detail
