// Program: the sock_fprog view and a small classic-BPF disassembler for tests and logs.
#include <fmt/format.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include <bit>

#include "tracebox/seccomp/filter.h"

namespace tracebox::seccomp {

namespace {

// What a load from seccomp_data at `offset` reads.
std::string field(std::uint32_t offset) {
  constexpr std::uint32_t kArgs = offsetof(seccomp_data, args);
  constexpr std::uint32_t kIp = offsetof(seccomp_data, instruction_pointer);
  const char* low = std::endian::native == std::endian::little ? "low" : "high";
  const char* high = std::endian::native == std::endian::little ? "high" : "low";
  if (offset == offsetof(seccomp_data, nr)) return "nr";
  if (offset == offsetof(seccomp_data, arch)) return "arch";
  if (offset == kIp || offset == kIp + 4) return fmt::format("ip ({})", offset == kIp ? low : high);
  if (offset >= kArgs && offset < kArgs + 48 && offset % 4 == 0)
    return fmt::format("arg{} ({})", (offset - kArgs) / 8, (offset - kArgs) % 8 == 0 ? low : high);
  return {};
}

std::string ret_text(std::uint32_t ret) {
  const auto data = static_cast<std::uint16_t>(ret & SECCOMP_RET_DATA);
  switch (ret & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_KILL_PROCESS:
      return Action::kill_process().to_string();
    case SECCOMP_RET_KILL_THREAD:
      return Action::kill_thread().to_string();
    case SECCOMP_RET_TRAP:
      return fmt::format("trap({})", data);
    case SECCOMP_RET_ERRNO:
      return Action::error(data).to_string();
    case SECCOMP_RET_USER_NOTIF:
      return Action::notify().to_string();
    case SECCOMP_RET_TRACE:
      return Action::trace(data).to_string();
    case SECCOMP_RET_LOG:
      return Action::log().to_string();
    case SECCOMP_RET_ALLOW:
      return Action::allow().to_string();
  }
  return "unknown action";
}

std::string with_comment(const std::string& text, const std::string& comment) {
  return comment.empty() ? text : fmt::format("{:<26}; {}", text, comment);
}

std::string disassemble(const sock_filter& f, std::size_t pc) {
  const std::string k = fmt::format("#{:#x}", f.k);
  switch (BPF_CLASS(f.code)) {
    case BPF_LD:
    case BPF_LDX: {
      const char* op = BPF_CLASS(f.code) == BPF_LD ? "ld" : "ldx";
      const char* size = BPF_SIZE(f.code) == BPF_H ? "h" : BPF_SIZE(f.code) == BPF_B ? "b" : "";
      switch (BPF_MODE(f.code)) {
        case BPF_ABS:
          return with_comment(fmt::format("{}{} [{}]", op, size, f.k), field(f.k));
        case BPF_IND:
          return fmt::format("{}{} [x + {}]", op, size, f.k);
        case BPF_IMM:
          return fmt::format("{} {}", op, k);
        case BPF_MEM:
          return fmt::format("{} M[{}]", op, f.k);
        case BPF_LEN:
          return fmt::format("{} #len", op);
        case BPF_MSH:
          return fmt::format("{} 4*([{}]&0xf)", op, f.k);
      }
      break;
    }
    case BPF_ST:
      return fmt::format("st M[{}]", f.k);
    case BPF_STX:
      return fmt::format("stx M[{}]", f.k);
    case BPF_ALU: {
      const std::string src = BPF_SRC(f.code) == BPF_X ? "x" : k;
      switch (BPF_OP(f.code)) {
        case BPF_ADD:
          return "add " + src;
        case BPF_SUB:
          return "sub " + src;
        case BPF_MUL:
          return "mul " + src;
        case BPF_DIV:
          return "div " + src;
        case BPF_MOD:
          return "mod " + src;
        case BPF_OR:
          return "or " + src;
        case BPF_AND:
          return "and " + src;
        case BPF_XOR:
          return "xor " + src;
        case BPF_LSH:
          return "lsh " + src;
        case BPF_RSH:
          return "rsh " + src;
        case BPF_NEG:
          return "neg";
      }
      break;
    }
    case BPF_JMP: {
      const std::size_t next = pc + 1;
      if (BPF_OP(f.code) == BPF_JA) return fmt::format("ja {}", next + f.k);
      const std::string src = BPF_SRC(f.code) == BPF_X ? "x" : k;
      const char* op = BPF_OP(f.code) == BPF_JEQ    ? "jeq"
                       : BPF_OP(f.code) == BPF_JGT  ? "jgt"
                       : BPF_OP(f.code) == BPF_JGE  ? "jge"
                       : BPF_OP(f.code) == BPF_JSET ? "jset"
                                                    : nullptr;
      if (op == nullptr) break;
      return fmt::format("{} {} jt {} jf {}", op, src, next + f.jt, next + f.jf);
    }
    case BPF_RET:
      if (BPF_RVAL(f.code) == BPF_A) return "ret a";
      if (BPF_RVAL(f.code) == BPF_X) return "ret x";
      return with_comment(fmt::format("ret #{:#010x}", f.k), ret_text(f.k));
    case BPF_MISC:
      if (BPF_MISCOP(f.code) == BPF_TAX) return "tax";
      if (BPF_MISCOP(f.code) == BPF_TXA) return "txa";
      break;
  }
  return fmt::format("unknown code={:#06x} jt={} jf={} k={:#x}", f.code, f.jt, f.jf, f.k);
}

}  // namespace

sock_fprog Program::fprog() const {
  return {static_cast<unsigned short>(instructions.size()),
          const_cast<sock_filter*>(instructions.data())};
}

std::string Program::to_text() const {
  std::string out;
  for (std::size_t pc = 0; pc < instructions.size(); ++pc)
    out += fmt::format("{:4}: {}\n", pc, disassemble(instructions[pc], pc));
  return out;
}

}  // namespace tracebox::seccomp
