// The classic-BPF interpreter of the seccomp tests (see bpf.h).
#include "support/bpf.h"

#include <linux/seccomp.h>

#include <catch2/catch.hpp>
#include <cstring>

namespace tracebox::test {

std::uint32_t run_bpf(const std::vector<sock_filter>& code, std::uint32_t arch, long nr,
                      const std::array<std::uint64_t, 6>& args) {
  seccomp_data d{};
  d.nr = static_cast<int>(nr);
  d.arch = arch;
  std::memcpy(d.args, args.data(), sizeof d.args);
  std::uint32_t a = 0;
  std::uint32_t x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  for (std::size_t pc = 0; pc < code.size(); ++pc) {
    const sock_filter& f = code[pc];
    const std::uint32_t src = BPF_SRC(f.code) == BPF_X ? x : f.k;
    switch (BPF_CLASS(f.code)) {
      case BPF_LD:
        if (BPF_MODE(f.code) == BPF_ABS && BPF_SIZE(f.code) == BPF_W && f.k + 4 <= sizeof d)
          std::memcpy(&a, reinterpret_cast<const char*>(&d) + f.k, 4);
        else if (BPF_MODE(f.code) == BPF_MEM && f.k < BPF_MEMWORDS)
          a = mem[f.k];
        else if (BPF_MODE(f.code) == BPF_IMM)
          a = f.k;
        else
          FAIL("unexpected load at " << pc);
        break;
      case BPF_LDX:
        x = BPF_MODE(f.code) == BPF_IMM ? f.k : mem[f.k % BPF_MEMWORDS];
        break;
      case BPF_ST:
        mem[f.k % BPF_MEMWORDS] = a;
        break;
      case BPF_STX:
        mem[f.k % BPF_MEMWORDS] = x;
        break;
      case BPF_ALU:
        switch (BPF_OP(f.code)) {
          case BPF_AND:
            a &= src;
            break;
          case BPF_OR:
            a |= src;
            break;
          case BPF_ADD:
            a += src;
            break;
          case BPF_SUB:
            a -= src;
            break;
          case BPF_XOR:
            a ^= src;
            break;
          default:
            FAIL("unexpected ALU op at " << pc);
        }
        break;
      case BPF_JMP: {
        bool taken = false;
        switch (BPF_OP(f.code)) {
          case BPF_JA:
            pc += f.k;
            continue;
          case BPF_JEQ:
            taken = a == src;
            break;
          case BPF_JGT:
            taken = a > src;
            break;
          case BPF_JGE:
            taken = a >= src;
            break;
          case BPF_JSET:
            taken = (a & src) != 0;
            break;
          default:
            FAIL("unexpected jump at " << pc);
        }
        pc += taken ? f.jt : f.jf;
        break;
      }
      case BPF_RET:
        return BPF_RVAL(f.code) == BPF_A ? a : f.k;
      case BPF_MISC:
        if (BPF_MISCOP(f.code) == BPF_TAX)
          x = a;
        else
          a = x;
        break;
      default:
        FAIL("unexpected instruction at " << pc);
    }
  }
  FAIL("the program ran off its end");
  return 0;
}

}  // namespace tracebox::test
