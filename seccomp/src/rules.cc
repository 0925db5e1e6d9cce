// The condition algebra behind Builder::build() (see rules.h).
#include "rules.h"

#include <fmt/format.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include <algorithm>

namespace tracebox::seccomp {

bool ArgCondition::holds(std::uint64_t x) const {
  switch (op) {
    case Op::kEq:
      return x == value;
    case Op::kNe:
      return x != value;
    case Op::kLt:
      return x < value;
    case Op::kLe:
      return x <= value;
    case Op::kGt:
      return x > value;
    case Op::kGe:
      return x >= value;
    case Op::kMaskedEq:
      return (x & mask) == value;
    case Op::kLt32:
      return (x & detail::kMax32) < value;
    case Op::kLe32:
      return (x & detail::kMax32) <= value;
    case Op::kGt32:
      return (x & detail::kMax32) > value;
    case Op::kGe32:
      return (x & detail::kMax32) >= value;
  }
  return false;
}

std::string ArgCondition::to_string() const {
  constexpr const char* kOps[] = {"==", "!=", "<", "<=", ">", ">=", "", "<", "<=", ">", ">="};
  if (op == Op::kMaskedEq) return fmt::format("arg{} & {:#x} == {:#x}", arg, mask, value);
  return fmt::format("{}arg{} {} {:#x}", detail::is_low32(op) ? "(u32)" : "", arg,
                     kOps[static_cast<int>(op)], value);
}

namespace detail {

namespace {

using Cond = ArgCondition;
using Op = ArgCondition::Op;

enum class Truth { kNever, kSometimes, kAlways };

// The 64-bit op a low-32-bit op is on a 32-bit argument.
Op widened(Op op) {
  switch (op) {
    case Op::kLt32:
      return Op::kLt;
    case Op::kLe32:
      return Op::kLe;
    case Op::kGt32:
      return Op::kGt;
    case Op::kGe32:
      return Op::kGe;
    default:
      return op;
  }
}

// Rewrites `c` for an ABI whose arguments are 0..max (the kernel reads the low 32 bits on 32-bit
// ABIs), and says whether its outcome still depends on the argument.
Truth canonicalize(Cond& c, std::uint64_t max) {
  const std::uint64_t v = c.value;
  if (is_low32(c.op)) {
    // Its own range is 0..2^32-1 whatever the ABI; on a 32-bit ABI it is the plain comparison.
    Cond low{c.arg, widened(c.op), v, 0};
    const Truth t = canonicalize(low, kMax32);
    if (t == Truth::kSometimes && max == kMax32) c = low;
    return t;
  }
  switch (c.op) {
    case Op::kEq:
      return v > max ? Truth::kNever : Truth::kSometimes;
    case Op::kNe:
      return v > max ? Truth::kAlways : Truth::kSometimes;
    case Op::kLt:
      return v == 0 ? Truth::kNever : v > max ? Truth::kAlways : Truth::kSometimes;
    case Op::kLe:
      return v >= max ? Truth::kAlways : Truth::kSometimes;
    case Op::kGt:
      return v >= max ? Truth::kNever : Truth::kSometimes;
    case Op::kGe:
      return v == 0 ? Truth::kAlways : v > max ? Truth::kNever : Truth::kSometimes;
    case Op::kMaskedEq:
      if ((v & ~c.mask) != 0 || v > max) return Truth::kNever;  // bits the masked arg cannot have
      c.mask &= max;
      if (c.mask == 0) return Truth::kAlways;
      if (c.mask == max) c = Cond::eq(c.arg, v);
      return Truth::kSometimes;
    default:
      break;
  }
  return Truth::kSometimes;
}

struct Interval {
  std::uint64_t lo, hi;
};

// The values accepted by a comparison other than kMaskedEq.
std::vector<Interval> intervals(const Cond& c) {
  const std::uint64_t v = c.value;
  std::vector<Interval> out;
  switch (c.op) {
    case Op::kEq:
      out.push_back({v, v});
      break;
    case Op::kNe:
      if (v > 0) out.push_back({0, v - 1});
      if (v < kMax64) out.push_back({v + 1, kMax64});
      break;
    case Op::kLt:
      if (v > 0) out.push_back({0, v - 1});
      break;
    case Op::kLe:
      out.push_back({0, v});
      break;
    case Op::kGt:
      if (v < kMax64) out.push_back({v + 1, kMax64});
      break;
    case Op::kGe:
      out.push_back({v, kMax64});
      break;
    default:  // kMaskedEq; low-32-bit ops are intervals of their own domain (disjoint())
      break;
  }
  return out;
}

// True when no value satisfies both conditions (on one argument). False also means "cannot
// tell": a range against a bit pattern is not analysed.
bool disjoint(const Cond& a, const Cond& b) {
  if (a.op == Op::kMaskedEq && b.op == Op::kMaskedEq)
    return ((a.value ^ b.value) & a.mask & b.mask) != 0;
  if (is_low32(a.op) || is_low32(b.op)) {
    if (is_low32(a.op) && is_low32(b.op)) {  // intervals of 0..2^32-1
      for (const Interval& x : intervals({a.arg, widened(a.op), a.value, 0}))
        for (const Interval& y : intervals({b.arg, widened(b.op), b.value, 0}))
          if (x.lo <= std::min(y.hi, kMax32) && y.lo <= std::min(x.hi, kMax32)) return false;
      return true;
    }
    // Against a comparison that fixes the low 32 bits: whether they satisfy the other.
    const Cond& other = is_low32(a.op) ? b : a;
    const Cond& low = is_low32(a.op) ? a : b;
    if (other.op == Op::kEq || (other.op == Op::kMaskedEq && (other.mask & kMax32) == kMax32))
      return !low.holds(other.value);
    return false;
  }
  if (a.op == Op::kEq) return !b.holds(a.value);
  if (b.op == Op::kEq) return !a.holds(b.value);
  if (a.op == Op::kMaskedEq || b.op == Op::kMaskedEq) return false;
  for (const Interval& x : intervals(a))
    for (const Interval& y : intervals(b))
      if (x.lo <= y.hi && y.lo <= x.hi) return false;
  return true;
}

}  // namespace

bool args_are_32bit(std::uint32_t arch) {
  return (arch & __AUDIT_ARCH_64BIT) == 0 || (arch & __AUDIT_ARCH_CONVENTION_MIPS64_N32) != 0;
}

std::string describe(const Rule& r) {
  if (r.conds.empty()) return r.action.to_string() + " (unconditional)";
  std::string text = r.action.to_string() + " when ";
  for (std::size_t i = 0; i < r.conds.size(); ++i)
    text += (i == 0 ? "" : " && ") + r.conds[i].to_string();
  return text;
}

bool narrow(Rule& r, Cond c, std::uint64_t max) {
  switch (canonicalize(c, max)) {
    case Truth::kNever:
      return false;
    case Truth::kAlways:
      return true;
    case Truth::kSometimes:
      break;
  }
  for (const Cond& have : r.conds) {
    if (have.arg != c.arg) continue;
    if (disjoint(have, c)) return false;
    if (have == c || have.op == Op::kEq) return true;  // `c` holds for have's value
  }
  // An equality makes the other comparisons of its argument redundant (none rejects its value).
  if (c.op == Op::kEq) std::erase_if(r.conds, [&](const Cond& have) { return have.arg == c.arg; });
  r.conds.push_back(c);
  return true;
}

bool exclusive(const Rule& a, const Rule& b) {
  for (const Cond& x : a.conds)
    for (const Cond& y : b.conds)
      if (x.arg == y.arg && disjoint(x, y)) return true;
  return false;
}

std::vector<Cond> complement(const Cond& c) {
  std::vector<Cond> pieces;
  std::uint64_t above = 0;
  for (int b = 63; b >= 0; --b) {
    const std::uint64_t bit = std::uint64_t{1} << b;
    if ((c.mask & bit) == 0) continue;
    pieces.push_back(Cond::masked_eq(c.arg, above | bit, (c.value & above) | (~c.value & bit)));
    above |= bit;
  }
  return pieces;
}

}  // namespace detail
}  // namespace tracebox::seccomp
