#include <cerrno>

#include "context_info.h"
#include "tracebox/tracer/handler.h"
#include "tracee.h"

namespace tracebox::tracer {

pid_t Context::pid() const { return info_.tid; }
pid_t Context::tgid() const { return info_.tgid; }
std::uint32_t Context::arch() const { return info_.syscall.arch; }
std::string_view Context::arch_name() const { return info_.arch_name; }
long Context::nr() const { return info_.syscall.nr; }
std::string_view Context::syscall_name() const { return info_.name; }
std::uint64_t Context::arg(unsigned i) const { return i < 6 ? info_.syscall.args[i] : 0; }
std::uint16_t Context::tag() const { return info_.syscall.ret_data; }

int Context::read(std::uint64_t addr, std::span<std::byte> out) const {
  return tracee::read_memory(info_.tid, addr, out);
}

StringRead Context::read_string(std::uint64_t addr, std::size_t max) const {
  return tracee::read_string(info_.tid, addr, max);
}

void Context::set_path(std::string path) { info_.path = std::move(path); }
bool Context::first_exec() const { return info_.first_exec; }
bool Context::in_run(pid_t pid) const { return info_.in_run && info_.in_run(pid); }
bool Context::group_in_run(pid_t pgid) const {
  return info_.group_in_run && info_.group_in_run(pgid);
}

Decision Handler::on_syscall(Context& ctx) {
  return Decision::kill("no handler decides traced syscall " + std::string(ctx.syscall_name()));
}
void Handler::on_fork(pid_t, pid_t, ForkKind) {}
void Handler::on_exec(pid_t) {}
void Handler::on_signal(pid_t, int) {}
void Handler::on_exit(pid_t, int) {}

}  // namespace tracebox::tracer
