#include "output.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

namespace tracebox::cmd {
namespace {

using Json = nlohmann::ordered_json;

std::int64_t round_ms(std::chrono::microseconds us) { return (us.count() + 500) / 1000; }

std::string_view decision_name(tracer::Decision::Kind kind) {
  switch (kind) {
    case tracer::Decision::Kind::kAllow:
      return "allow";
    case tracer::Decision::Kind::kDeny:
      return "deny";
    case tracer::Decision::Kind::kKill:
      return "kill";
  }
  return "kill";
}

Json string_or_null(std::string_view s) { return s.empty() ? Json(nullptr) : Json(s); }

Json args_json(const std::array<std::uint64_t, 6>& args) {
  Json a = Json::array();
  for (auto v : args) a.push_back(v);
  return a;
}

}  // namespace

int uoj_code(tracer::Status status) {
  using S = tracer::Status;
  switch (status) {
    case S::kNormal:
      return 0;
    case S::kSignalled:
    case S::kNonzeroExitStatus:
      return 2;
    case S::kMemoryLimitExceeded:
      return 3;
    case S::kTimeLimitExceeded:
      return 4;
    case S::kOutputLimitExceeded:
      return 5;
    case S::kDisallowedSyscall:
      return 6;
    case S::kRunnerError:
      return 7;
  }
  return 7;
}

std::string uoj_line(const tracer::Result& r) {
  return fmt::format("{} {} {} {}\n", uoj_code(r.status), round_ms(r.cpu_time), r.memory_kib,
                     r.exit_status);
}

std::string json_line(const tracer::Result& r, bool with_syscalls) {
  Json j;
  j["status"] = tracer::to_string(r.status);
  j["exit_status"] = r.exit_status;
  j["signal"] = r.signal ? Json(*r.signal) : Json(nullptr);
  j["time_ms"] = round_ms(r.cpu_time);
  j["wall_ms"] = round_ms(r.wall_time);
  j["memory_kb"] = r.memory_kib;
  j["setup_ms"] = round_ms(r.setup_time);
  j["limit"] = string_or_null(tracer::to_string(r.limit));
  j["error"] = string_or_null(r.error);
  if (r.child_error) {
    j["error_location"] = forkexec::to_string(r.child_error->location);
    j["errno"] = errno_name(r.child_error->err);
  } else {
    j["error_location"] = nullptr;
    j["errno"] = nullptr;
  }
  if (r.violation) {
    const tracer::Violation& v = *r.violation;
    Json vj;
    vj["syscall"] = v.syscall;
    vj["nr"] = v.nr;
    vj["arch"] = v.arch;
    vj["args"] = args_json(v.args);
    vj["path"] = v.path ? Json(*v.path) : Json(nullptr);
    j["violation"] = std::move(vj);
  } else {
    j["violation"] = nullptr;
  }
  if (with_syscalls) {
    Json s = Json::object();
    for (const auto& [name, n] : r.syscall_counts) s[name] = n;
    j["syscalls"] = std::move(s);
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string count_table(const std::map<std::string, std::uint64_t>& counts) {
  std::vector<std::pair<std::string, std::uint64_t>> rows(counts.begin(), counts.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::size_t width = 7;
  std::uint64_t total = 0;
  for (const auto& [name, n] : rows) {
    width = std::max(width, name.size());
    total += n;
  }
  std::string out = fmt::format("{:<{}} {:>10}\n", "syscall", width, "calls");
  for (const auto& [name, n] : rows) out += fmt::format("{:<{}} {:>10}\n", name, width, n);
  out += fmt::format("{:<{}} {:>10}\n", "total", width, total);
  return out;
}

std::string trace_json_line(const tracer::TraceEvent& e) {
  Json j;
  j["pid"] = e.pid;
  j["syscall"] = e.syscall;
  j["nr"] = e.nr;
  j["arch"] = e.arch;
  j["args"] = args_json(e.args);
  j["decision"] = decision_name(e.decision);
  j["errno"] =
      e.decision == tracer::Decision::Kind::kDeny ? Json(errno_name(e.error)) : Json(nullptr);
  j["path"] = e.path != nullptr ? Json(*e.path) : Json(nullptr);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string trace_text_line(const tracer::TraceEvent& e) {
  std::string line = fmt::format("[pid {}] {}(", e.pid, e.syscall.empty() ? "?" : e.syscall);
  for (std::size_t i = 0; i < e.args.size(); ++i)
    line += fmt::format("{}{:#x}", i == 0 ? "" : ", ", e.args[i]);
  line += fmt::format(") [{} {}] = {}", e.arch, e.nr, decision_name(e.decision));
  if (e.decision == tracer::Decision::Kind::kDeny) line += " " + errno_name(e.error);
  if (e.path != nullptr) line += " " + *e.path;
  if (e.decision == tracer::Decision::Kind::kKill && !e.reason.empty())
    line += fmt::format(" ({})", e.reason);
  return line + "\n";
}

std::string violation_text(const tracer::Violation& v) {
  std::string text = fmt::format("violation: pid {} {} (nr {}, {}) args [", v.pid,
                                 v.syscall.empty() ? "?" : v.syscall, v.nr, v.arch);
  for (std::size_t i = 0; i < v.args.size(); ++i)
    text += fmt::format("{}{:#x}", i == 0 ? "" : ", ", v.args[i]);
  text += "]";
  if (v.path) text += " path " + *v.path;
  if (!v.reason.empty()) text += ": " + v.reason;
  return text + "\n";
}

int exit_code(const tracer::Result& r) { return r.status == tracer::Status::kRunnerError ? 1 : 0; }

}  // namespace tracebox::cmd
