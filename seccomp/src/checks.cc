// The BPF of one syscall's argument checks (see rules.h).
//
// libseccomp builds the ABI and syscall dispatch, but the argument checks are ours: libseccomp
// 2.5.4 miscompiles some syscalls with several conditional rules. When a rule fails on an
// argument it loaded after a first one, the code falls through to the next rule's comparison of
// that first argument without reloading it: the two allow rules "arg0 > 2 && arg2 <= 0xff" and
// "arg0 < 0x10 && arg1 <= 0x11" then allow getpgid(1, ~0, 16). Here every comparison loads its
// own word, and the rules are tried one after the other.
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include "rules.h"

namespace tracebox::seccomp::detail {

namespace {

using Op = ArgCondition::Op;

// Classic BPF with forward jumps to labels, resolved at the end.
class Emitter {
 public:
  static constexpr int kNext = -1;  // fall through to the next instruction

  int label() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void place(int label) {
    labels_[static_cast<std::size_t>(label)] = static_cast<int>(code_.size());
  }
  void load(std::uint32_t offset) { emit(BPF_LD | BPF_W | BPF_ABS, offset); }
  void mask(std::uint32_t bits) { emit(BPF_ALU | BPF_AND | BPF_K, bits); }
  void ret(std::uint32_t value) { emit(BPF_RET | BPF_K, value); }
  // if (A <op> k) goto jt; else goto jf;
  void jump(std::uint16_t op, std::uint32_t k, int jt, int jf) {
    code_.push_back({{static_cast<std::uint16_t>(BPF_JMP | op | BPF_K), 0, 0, k}, jt, jf});
  }

  std::vector<sock_filter> finish() const {
    std::vector<sock_filter> out;
    for (std::size_t pc = 0; pc < code_.size(); ++pc) {
      sock_filter f = code_[pc].f;
      f.jt = offset(pc, code_[pc].jt);
      f.jf = offset(pc, code_[pc].jf);
      out.push_back(f);
    }
    return out;
  }

 private:
  struct Insn {
    sock_filter f;
    int jt, jf;
  };
  void emit(std::uint16_t code, std::uint32_t k) {
    code_.push_back({{code, 0, 0, k}, kNext, kNext});
  }
  std::uint8_t offset(std::size_t pc, int label) const {
    if (label == kNext) return 0;
    const long distance = labels_[static_cast<std::size_t>(label)] - static_cast<long>(pc) - 1;
    if (distance < 0 || distance > 255)
      throw BuildError("a rule has too many conditions for BPF's 8-bit jumps");
    return static_cast<std::uint8_t>(distance);
  }

  std::vector<Insn> code_;
  std::vector<int> labels_;
};

// Loads the 32-bit word at `offset` and jumps to `pass` when it satisfies `op` against `k`
// (masked first for kMaskedEq), else to `fail`.
void compare_word(Emitter& e, std::uint32_t offset, Op op, std::uint32_t k, std::uint32_t mask,
                  int pass, int fail) {
  e.load(offset);
  switch (op) {
    case Op::kMaskedEq:
      e.mask(mask);
      e.jump(BPF_JEQ, k, pass, fail);
      return;
    case Op::kEq:
      e.jump(BPF_JEQ, k, pass, fail);
      return;
    case Op::kNe:
      e.jump(BPF_JEQ, k, fail, pass);
      return;
    case Op::kGt:
    case Op::kGt32:  // one word: the same comparison
      e.jump(BPF_JGT, k, pass, fail);
      return;
    case Op::kGe:
    case Op::kGe32:  // one word: the same comparison
      e.jump(BPF_JGE, k, pass, fail);
      return;
    case Op::kLt:
    case Op::kLt32:  // one word: the same comparison
      e.jump(BPF_JGE, k, fail, pass);
      return;
    case Op::kLe:
    case Op::kLe32:  // one word: the same comparison
      e.jump(BPF_JGT, k, fail, pass);
      return;
  }
}

// Falls through when `c` holds, else jumps to `fail`; a 64-bit argument is compared as two words.
void compare(Emitter& e, const ArgCondition& c, std::uint32_t arch, int fail) {
  const std::uint32_t base = offsetof(seccomp_data, args) + 8 * c.arg;
  const bool little = (arch & __AUDIT_ARCH_LE) != 0;
  const std::uint32_t low = little ? base : base + 4;
  const std::uint32_t high = little ? base + 4 : base;
  const auto lo = [](std::uint64_t v) { return static_cast<std::uint32_t>(v); };
  const auto hi = [](std::uint64_t v) { return static_cast<std::uint32_t>(v >> 32); };
  const int holds = e.label();
  const int low_word = e.label();
  if (is_low32(c.op)) {  // a 64-bit ABI (narrow() made it a plain comparison on 32-bit ones)
    e.place(low_word);
    compare_word(e, low, c.op, lo(c.value), 0, holds, fail);
    e.place(holds);
    return;
  }
  if (args_are_32bit(arch)) {  // values were narrowed to 32 bits
    e.place(low_word);
  } else if (c.op == Op::kMaskedEq) {
    if (hi(c.mask) != 0) compare_word(e, high, c.op, hi(c.value), hi(c.mask), low_word, fail);
    e.place(low_word);
    if (lo(c.mask) == 0) {
      e.place(holds);
      return;
    }
  } else {
    switch (c.op) {
      case Op::kEq:
        compare_word(e, high, Op::kEq, hi(c.value), 0, low_word, fail);
        break;
      case Op::kNe:
        compare_word(e, high, Op::kEq, hi(c.value), 0, low_word, holds);
        break;
      case Op::kGt:
      case Op::kGe:  // a greater high word decides; an equal one leaves it to the low word
        compare_word(e, high, Op::kGt, hi(c.value), 0, holds, Emitter::kNext);
        e.jump(BPF_JEQ, hi(c.value), low_word, fail);
        break;
      case Op::kLt:
      case Op::kLe:
        compare_word(e, high, Op::kGt, hi(c.value), 0, fail, Emitter::kNext);
        e.jump(BPF_JEQ, hi(c.value), low_word, holds);
        break;
      default:  // kMaskedEq and the low-32-bit ops are handled above
        break;
    }
    e.place(low_word);
  }
  compare_word(e, low, c.op, lo(c.value), lo(c.mask), holds, fail);
  e.place(holds);
}

}  // namespace

std::vector<sock_filter> argument_checks(const std::vector<Rule>& rules, const Action& otherwise,
                                         std::uint32_t arch) {
  Emitter e;
  for (const Rule& r : rules) {
    const int next_rule = e.label();
    for (const ArgCondition& c : r.conds) compare(e, c, arch, next_rule);
    e.ret(r.action.to_ret());
    e.place(next_rule);
  }
  e.ret(otherwise.to_ret());
  return e.finish();
}

}  // namespace tracebox::seccomp::detail
