#include "batch.h"

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tracebox/tracer/policy/profile.h"
#include "tracebox/tracer/tracer.h"

namespace tracebox::cmd {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;
namespace policy = tracer::policy;

// A request that cannot run: the field at fault (as the request spells it, "" for the line as a
// whole) and a one-line message that starts with it.
struct BadRequest {
  std::string field;
  std::string message;
};

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw BadRequest{field, field.empty() ? why : field + ": " + why};
}

// Limits a request may give: at most a million seconds, an exbibyte, a million tasks.
constexpr std::uint64_t kMaxNs = std::uint64_t{1'000'000} * 1'000'000'000;
constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 60;
constexpr std::uint64_t kMaxTasks = 1'000'000;

std::uint64_t unsigned_field(const Json& v, const std::string& field, std::uint64_t max,
                             const char* unit) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v < 0))
    bad(field, std::string("must be a whole number of ") + unit + " (not negative)");
  const std::uint64_t n = v.get<std::uint64_t>();
  if (n > max) bad(field, "is too large (at most " + std::to_string(max) + ")");
  return n;
}

std::string string_field(const Json& v, const std::string& field) {
  if (!v.is_string()) bad(field, "must be a string");
  return v.get<std::string>();
}

bool bool_field(const Json& v, const std::string& field) {
  if (!v.is_boolean()) bad(field, "must be true or false");
  return v.get<bool>();
}

std::vector<std::string> strings_field(const Json& v, const std::string& field) {
  if (!v.is_array()) bad(field, "must be an array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(string_field(v[i], field + "[" + std::to_string(i) + "]"));
  return out;
}

// What the worker's own command line sets: the defaults of every request.
struct Defaults {
  std::string type;
  std::string work_dir;  // resolved
  std::chrono::nanoseconds cpu{}, wall{};
  std::uint64_t memory = 0, output = 0, stack = 0;
  bool allow_proc = false, unsafe = false;
  std::vector<std::string> add_readable, add_writable;
  std::optional<std::pair<unsigned, unsigned>> user;  // -user: the programs' uid and gid as root
};

// A stdout or stderr captured under a name (go-judge's Collector).
struct Capture {
  std::string name;
  int fd = 1;
};

// A parsed request, before its profile is prepared.
struct Request {
  Json id;
  std::string type;
  bool allow_proc = false, unsafe = false;
  policy::RunRequest run;
  std::optional<std::vector<std::string>> env;
  std::optional<int> proc_limit;
  std::vector<Capture> captures;
};

std::string resolved_dir(const std::string& path, const std::string& base, const char* field) {
  const std::string abs = absolute_path(path, base);
  char buf[PATH_MAX];
  if (::realpath(abs.c_str(), buf) == nullptr) bad(field, path + ": " + errno_text(errno));
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) bad(field, path + ": not a directory");
  return buf;
}

// The stream `fd` of a request's "files": null, {"content"}, {"src"} or {"name", "max"}.
void parse_file(const Json& v, int fd, const std::string& work, std::uint64_t default_max,
                Request& r) {
  const std::string field = "files[" + std::to_string(fd) + "]";
  tracer::Io& io = r.run.io;
  if (v.is_null()) {
    if (fd == 0) io.in = tracer::Input::null();
    if (fd == 1) io.out = tracer::Output::null();
    if (fd == 2) io.err = tracer::Output::null();
    return;
  }
  if (!v.is_object()) bad(field, "must be null or an object");
  for (const auto& [key, value] : v.items()) {
    if (key != "content" && key != "src" && key != "name" && key != "max")
      bad(field + "." + key, "unknown field");
  }
  const bool content = v.contains("content"), src = v.contains("src"), name = v.contains("name");
  if (content + src + name != 1)
    bad(field, "needs exactly one of \"content\", \"src\" or \"name\"");
  if (v.contains("max") && !name) bad(field + ".max", "only with \"name\"");
  if (content) {
    if (fd != 0) bad(field + ".content", "only for stdin (files[0])");
    const std::string data = string_field(v["content"], field + ".content");
    try {
      io.in = tracer::Input::bytes(data);
    } catch (const SystemError& e) {
      bad(field + ".content", e.what());
    }
    return;
  }
  if (src) {
    std::string path = string_field(v["src"], field + ".src");
    if (path.empty()) bad(field + ".src", "empty path");
    path = absolute_path(path, work);
    if (fd == 0) io.in = tracer::Input::file(path);
    if (fd == 1) io.out = tracer::Output::file(path);
    if (fd == 2) io.err = tracer::Output::file(path);
    return;
  }
  if (fd == 0) bad(field + ".name", "stdin cannot be collected; give \"content\" or \"src\"");
  const std::string n = string_field(v["name"], field + ".name");
  if (n.empty()) bad(field + ".name", "empty name");
  for (const auto& c : r.captures)
    if (c.name == n) bad(field + ".name", "\"" + n + "\" collects files[1] already");
  const std::uint64_t max = v.contains("max")
                                ? unsigned_field(v["max"], field + ".max", kMaxBytes, "bytes")
                                : default_max;
  (fd == 1 ? io.out : io.err) = tracer::Output::capture(max);
  r.captures.push_back({n, fd});
}

const std::set<std::string>& known_fields() {
  static const std::set<std::string> fields{
      "id",        "args",       "env",         "type",       "workDir",     "files",
      "cpuLimit",  "clockLimit", "memoryLimit", "stackLimit", "outputLimit", "procLimit",
      "allowProc", "unsafe",     "addReadable", "addWritable"};
  return fields;
}

// The request of one line. Throws BadRequest (its id, when it has one, in `id`).
Request parse_request(const std::string& line, const Defaults& d, Json& id) {
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded()) bad("", "not valid JSON");
  if (!j.is_object()) bad("", "a request is a JSON object");
  if (j.contains("id")) id = j["id"];
  for (const auto& [key, value] : j.items())
    if (!known_fields().contains(key)) bad(key, "unknown field");

  Request r;
  r.id = id;
  r.type = j.contains("type") ? string_field(j["type"], "type") : d.type;
  if (r.type.empty()) bad("type", "empty profile name");
  r.allow_proc = j.contains("allowProc") ? bool_field(j["allowProc"], "allowProc") : d.allow_proc;
  r.unsafe = j.contains("unsafe") ? bool_field(j["unsafe"], "unsafe") : d.unsafe;

  policy::RunRequest& run = r.run;
  run.work_dir = j.contains("workDir")
                     ? resolved_dir(string_field(j["workDir"], "workDir"), d.work_dir, "workDir")
                     : d.work_dir;
  if (!j.contains("args")) bad("args", "missing (the program and its arguments)");
  run.args = strings_field(j["args"], "args");
  if (run.args.empty()) bad("args", "empty (the program and its arguments)");
  if (run.args[0].empty()) bad("args[0]", "empty program path");
  if (j.contains("env")) r.env = strings_field(j["env"], "env");

  run.cpu = j.contains("cpuLimit")
                ? std::chrono::nanoseconds(unsigned_field(j["cpuLimit"], "cpuLimit", kMaxNs, "ns"))
                : d.cpu;
  run.wall =
      j.contains("clockLimit")
          ? std::chrono::nanoseconds(unsigned_field(j["clockLimit"], "clockLimit", kMaxNs, "ns"))
          : d.wall;
  run.memory_bytes = j.contains("memoryLimit")
                         ? unsigned_field(j["memoryLimit"], "memoryLimit", kMaxBytes, "bytes")
                         : d.memory;
  run.stack_bytes = j.contains("stackLimit")
                        ? unsigned_field(j["stackLimit"], "stackLimit", kMaxBytes, "bytes")
                        : d.stack;
  run.output_bytes = j.contains("outputLimit")
                         ? unsigned_field(j["outputLimit"], "outputLimit", kMaxBytes, "bytes")
                         : d.output;
  if (j.contains("procLimit")) {
    r.proc_limit =
        static_cast<int>(unsigned_field(j["procLimit"], "procLimit", kMaxTasks, "tasks"));
    if (*r.proc_limit == 0) bad("procLimit", "must be at least 1");
  }

  const std::vector<std::string> readable =
      j.contains("addReadable") ? strings_field(j["addReadable"], "addReadable") : d.add_readable;
  const std::vector<std::string> writable =
      j.contains("addWritable") ? strings_field(j["addWritable"], "addWritable") : d.add_writable;
  try {
    resolve_grants(readable, writable, run.work_dir, run.grants, nullptr, nullptr, "addReadable",
                   "addWritable");
  } catch (const UsageError& e) {
    const std::string what = e.what();
    bad(what.starts_with("addReadable") ? "addReadable" : "addWritable",
        what.substr(what.find(": ") + 2));
  }

  if (j.contains("files")) {
    const Json& files = j["files"];
    if (!files.is_array() || files.size() > 3)
      bad("files", "must be an array of at most 3 entries (stdin, stdout, stderr)");
    for (std::size_t fd = 0; fd < files.size(); ++fd)
      parse_file(files[fd], static_cast<int>(fd), run.work_dir, run.output_bytes, r);
  }
  return r;
}

// go-judge's status names.
const char* judge_status(tracer::Status s) {
  using S = tracer::Status;
  switch (s) {
    case S::kNormal:
      return "Accepted";
    case S::kTimeLimitExceeded:
      return "Time Limit Exceeded";
    case S::kMemoryLimitExceeded:
      return "Memory Limit Exceeded";
    case S::kOutputLimitExceeded:
      return "Output Limit Exceeded";
    case S::kDisallowedSyscall:
      return "Dangerous Syscall";
    case S::kSignalled:
      return "Signalled";
    case S::kNonzeroExitStatus:
      return "Nonzero Exit Status";
    case S::kRunnerError:
      return "Internal Error";
  }
  return "Internal Error";
}

std::int64_t ns(std::chrono::microseconds us) { return us.count() * 1000; }

OrderedJson null_or(std::string_view s) {
  return s.empty() ? OrderedJson(nullptr) : OrderedJson(s);
}

std::string dump(const OrderedJson& j) {
  // Output that is not UTF-8 becomes U+FFFD: a JSON string carries text.
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

std::string result_line(const Json& id, const tracer::Result& r,
                        const std::vector<Capture>& captures) {
  OrderedJson j;
  j["id"] = id;
  j["status"] = judge_status(r.status);
  j["verdict"] = tracer::to_string(r.status);
  j["exitStatus"] = r.exit_status;
  j["signal"] = r.signal ? OrderedJson(*r.signal) : OrderedJson(nullptr);
  j["time"] = ns(r.cpu_time);
  j["memory"] = r.memory_kib * 1024;
  j["runTime"] = ns(r.wall_time);
  j["setupTime"] = ns(r.setup_time);
  j["queueTime"] = ns(r.queue_time);
  j["limit"] = null_or(tracer::to_string(r.limit));
  OrderedJson files = OrderedJson::object();
  for (const auto& c : captures) files[c.name] = c.fd == 1 ? r.stdout_data : r.stderr_data;
  j["files"] = std::move(files);
  j["error"] = null_or(r.error);
  if (r.child_error) {
    j["errorLocation"] = forkexec::to_string(r.child_error->location);
    j["errno"] = errno_name(r.child_error->err);
  } else {
    j["errorLocation"] = nullptr;
    j["errno"] = nullptr;
  }
  if (r.violation) {
    const tracer::Violation& v = *r.violation;
    OrderedJson vj;
    vj["syscall"] = v.syscall;
    vj["nr"] = v.nr;
    vj["arch"] = v.arch;
    vj["args"] = v.args;
    vj["path"] = v.path ? OrderedJson(*v.path) : OrderedJson(nullptr);
    vj["reason"] = v.reason;
    j["violation"] = std::move(vj);
  } else {
    j["violation"] = nullptr;
  }
  return dump(j);
}

std::string error_line(const Json& id, const BadRequest& e) {
  OrderedJson j;
  j["id"] = id;
  j["status"] = "Invalid Request";
  j["verdict"] = "invalid_request";
  j["field"] = e.field;
  j["error"] = e.message;
  return dump(j);
}

bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::size_t cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return static_cast<std::size_t>(std::max(1, CPU_COUNT(&set)));
}

// What the reader thread and the io_context's thread share: the slots of requests read but not
// yet answered (the reader waits for one, so that a fast client cannot queue without bound), and
// whether the worker stops (the reader then posts nothing more: the io_context may be gone).
struct Shared {
  std::mutex mutex;
  std::condition_variable freed;
  std::size_t outstanding = 0;
  bool stopping = false;
};

class Worker {
 public:
  Worker(const Options& o, const Environment& env, std::size_t jobs)
      : dirs_(profile_dirs(o, env)), bound_(2 * jobs + 16), shared_(std::make_shared<Shared>()) {
    d_.type = o.type;
    d_.cpu = std::chrono::nanoseconds(std::llround(o.tl * 1e9));
    d_.wall = std::chrono::nanoseconds(std::llround(o.rtl * 1e9));
    d_.memory = static_cast<std::uint64_t>(std::llround(o.ml * 1024 * 1024));
    d_.output = static_cast<std::uint64_t>(std::llround(o.ol * 1024 * 1024));
    d_.stack = static_cast<std::uint64_t>(std::llround(o.sl * 1024 * 1024));
    d_.allow_proc = o.allow_proc;
    d_.unsafe = o.unsafe;
    d_.add_readable = o.add_readable;
    d_.add_writable = o.add_writable;
    d_.user = o.user;
    try {
      d_.work_dir =
          resolved_dir(o.work_path.empty() ? env.cwd : o.work_path, env.cwd, "-work-path");
    } catch (const BadRequest& e) {
      throw UsageError(e.message);
    }
    tracer::configure(io_, {.max_in_flight = jobs});
  }

  int run() {
    signals_.async_wait([this](const asio::error_code& ec, int sig) {
      if (!ec) stop(128 + sig);
    });
    std::thread reader([s = shared_, this] { read_loop(s); });
    io_.run();
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
      shared_->freed.notify_all();
    }
    // After EOF the reader has returned; after a stop it may be blocked in read(): it then
    // touches only `Shared` (and posts nothing), and exits with the process.
    if (eof_seen_) {
      reader.join();
    } else {
      reader.detach();
    }
    return code_;
  }

 private:
  // The reader thread: lines from fd 0, each posted to the io_context once a slot is free.
  void read_loop(const std::shared_ptr<Shared>& s) {
    std::string buffer;
    char chunk[65536];
    int err = 0;
    for (;;) {
      ssize_t n = ::read(0, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
        if (!submit(s, buffer.substr(start, nl - start))) return;
      }
      buffer.erase(0, start);
    }
    if (!buffer.empty() && !submit(s, std::move(buffer))) return;
    std::lock_guard lock(s->mutex);
    if (!s->stopping) asio::post(io_, [this, err] { on_eof(err); });
  }

  bool submit(const std::shared_ptr<Shared>& s, std::string line) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return true;  // a blank line
    std::unique_lock lock(s->mutex);
    s->freed.wait(lock, [&] { return s->stopping || s->outstanding < bound_; });
    if (s->stopping) return false;
    ++s->outstanding;
    asio::post(io_, [this, line = std::move(line)] { on_line(line); });
    return true;
  }

  void release() {
    std::lock_guard lock(shared_->mutex);
    --shared_->outstanding;
    shared_->freed.notify_all();
  }

  void emit(const std::string& line) {
    if (stopped_) return;
    if (!write_all(1, line)) {
      const int err = errno;
      write_all(2, "runprog: -batch: stdout: " + errno_text(err) + "\n");
      stop(1);
    }
  }

  void on_line(const std::string& line) {
    if (stopped_) return release();
    Json id;  // null until the request names one
    tracer::Spec spec;
    Request r;
    try {
      r = parse_request(line, d_, id);
      std::shared_ptr<const policy::PreparedProfile> prepared = profile(r);
      if (prepared->profile().command.empty()) {
        const std::string program = absolute_path(r.run.args[0], r.run.work_dir);
        struct stat st {};
        if (::stat(program.c_str(), &st) != 0)
          bad("args[0]", r.run.args[0] + ": " + errno_text(errno));
      }
      try {
        spec = prepared->spec(r.run);
        if (d_.user && spec.isolation.user)
          spec.isolation.user = forkexec::Credential{d_.user->first, d_.user->second, {}, false};
      } catch (const ConfigError& e) {
        bad("", e.what());
      }
    } catch (const BadRequest& e) {
      emit(error_line(id, e));
      return release();
    }
    if (r.env) spec.process.env = std::move(*r.env);
    if (r.proc_limit) spec.limits.tasks = *r.proc_limit;
    const std::uint64_t serial = next_serial_++;
    running_[serial] = tracer::async_run(
        io_, std::move(spec),
        [this, serial, id = std::move(r.id), captures = std::move(r.captures)](tracer::Result res) {
          running_.erase(serial);
          emit(result_line(id, res, captures));
          release();
          maybe_finish();
        });
  }

  // The prepared profile of a request, prepared on its first use.
  std::shared_ptr<const policy::PreparedProfile> profile(const Request& r) {
    const bool limited = r.run.memory_bytes > 0;
    auto key = std::make_tuple(r.type, r.allow_proc, r.unsafe, limited);
    auto it = profiles_.find(key);
    if (it != profiles_.end()) return it->second;
    policy::ProfileOptions po;
    po.allow_proc = r.allow_proc;
    po.unsafe = r.unsafe;
    po.memory_limited = limited;
    // No filter cache: the filter is built once per profile for the worker's life, and a
    // request's grants could otherwise reach the cache directory.
    try {
      auto prepared = policy::PreparedProfile::load(r.type, po, dirs_);
      profiles_.emplace(key, prepared);
      return prepared;
    } catch (const ConfigError& e) {  // ProfileError too
      bad("type", e.what());
    }
  }

  void on_eof(int err) {
    eof_seen_ = true;
    if (err != 0) {
      write_all(2, "runprog: -batch: stdin: " + errno_text(err) + "\n");
      if (code_ == 0) code_ = 1;
    }
    maybe_finish();
  }

  void maybe_finish() {
    if ((eof_seen_ || stopped_) && running_.empty()) {
      work_.reset();
      signals_.cancel();
    }
  }

  // Every run cancelled (killed and reaped by the tracer); nothing more is written.
  void stop(int code) {
    if (stopped_) return;
    stopped_ = true;
    code_ = code;
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
      shared_->freed.notify_all();
    }
    for (auto& [serial, handle] : running_) handle.cancel();
    maybe_finish();
  }

  Defaults d_;
  std::vector<std::string> dirs_;
  std::size_t bound_;
  std::shared_ptr<Shared> shared_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::signal_set signals_{io_, SIGTERM, SIGINT, SIGHUP};
  std::map<std::tuple<std::string, bool, bool, bool>,
           std::shared_ptr<const policy::PreparedProfile>>
      profiles_;
  std::map<std::uint64_t, tracer::RunHandle> running_;
  std::uint64_t next_serial_ = 0;
  bool eof_seen_ = false;
  bool stopped_ = false;
  int code_ = 0;
};

}  // namespace

int run_batch(const Options& options, const Environment& env) {
  // A closed stdout is a write error (EPIPE), not a silent death: the worker then stops its runs.
  // Programs get SIGPIPE back: the child resets every classic signal to SIG_DFL.
  ::signal(SIGPIPE, SIG_IGN);
  const std::size_t jobs = options.jobs > 0 ? static_cast<std::size_t>(options.jobs) : cpu_count();
  auto worker = std::make_unique<Worker>(options, env, jobs);
  const int code = worker->run();
  worker.reset();  // no run is left: every completion was delivered
  // Stopped (a signal, a failed write): the reader thread may still block in read(); leave
  // without running static destructors under it. Everything was written with write(2).
  if (code != 0) ::_exit(code);
  return code;
}

}  // namespace tracebox::cmd
