// The flat, pointer-only description of the child's work, prepared by the parent before clone.
// The child reads it in place and never allocates.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace tracebox::forkexec::detail {

// The wire format on the sync socket (SOCK_SEQPACKET, one message per send).
// child -> parent: a WireError; all-zero means "ready, waiting for the ack".
// parent -> child: one int32 errno word (the id-map result, the ack); 0 means "go on".
struct WireError {
  std::int32_t err;
  std::uint32_t location;
  std::int32_t index;
};

// A device node made in a mounted tmpfs (mount::Step::Node).
struct ChildNode {
  const char* path;
  unsigned mode;  // S_IFCHR | permission bits
  std::uint64_t device;
};

struct ChildMount {
  const char* source;
  const char* target;
  const char* fstype;
  const char* data;
  unsigned long flags;
  unsigned long remount_flags;
  const char* const* prefixes;
  std::size_t n_prefixes;
  bool make_file;
  const ChildNode* nodes;  // made after the mount, before the remount
  std::size_t n_nodes;
};

struct ChildRlimit {
  int resource;
  std::uint64_t cur;
  std::uint64_t max;
};

// What the namespace init (Runner::pid_namespace) reads, once, at its start.
struct InitPlan {
  pid_t tracer_pid;  // the caller's pid in the caller's namespace (init's parent)
  bool pdeathsig;
  // The clone fallback (no CLONE_CLEAR_SIGHAND): the caller's handlers must be reset first.
  bool reset_handlers;
};

struct ChildPlan {
  // exec
  const char* path;
  int exec_fd;  // -1: execve(path)
  char* const* argv;
  char* const* envp;
  int etxtbsy_retries;
  int exit_signal;  // sent to the parent when the child ends

  // Where failures go. With CLONE_VM|CLONE_VFORK the child writes its WireError straight into
  // the parent's memory (the parent sleeps until we exec or exit); otherwise it sends it on the
  // sync socket.
  WireError* shared_error;  // nullptr: use the socket
  // With the socket: where a failure past the seccomp filter goes (the child still shares the
  // parent's memory), since the filter may kill the sendto that would report it. The parent
  // reads it when the socket closes without a message.
  WireError* late_error;
  int sync_fd;    // the child's end, -1 when there is no socket
  int parent_fd;  // the parent's end, closed first thing in the child
  // Signal dispositions: handlers were reset by clone3(CLONE_CLEAR_SIGHAND) unless this is set
  // (the clone fallback: then every signal is reset); ignored signals are reset to default
  // either way: those of `ignored` (bit sig-1), the caller's SIG_IGN set when clone3 was made.
  bool reset_handlers;
  std::uint64_t ignored;
  pid_t parent_pid;        // for the PR_SET_PDEATHSIG race check: the caller, as the caller sees it
  bool outside_namespace;  // the parent is outside our PID namespace: getppid() says 0
  bool pdeathsig;
  const int* join_ns;  // setns(fd, 0) each, first thing
  std::size_t n_join_ns;
  bool user_ns;  // wait for the id maps
  bool sync;     // ready/ack with the parent's callback

  // credentials
  bool credential;
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t n_groups;
  bool setgroups;

  // fd table: files[i] becomes fd i (-1 closes it)
  const int* files;
  int n_files;
  int exec_fd_target;  // where the exec fd sits during exec (right above the table and socket)
  int high_fd;         // temporary copies go at or above this
  int close_from;      // every fd from here up is closed

  bool ctty;
  bool new_ns;
  const char* pivot_root;  // nullptr: none
  const ChildMount* mounts;
  std::size_t n_mounts;
  const char* hostname;
  const char* domainname;
  const char* work_dir;
  const ChildRlimit* rlimits;
  std::size_t n_rlimits;
  bool set_nice;
  int nice;

  bool no_new_privs;
  bool drop_caps;  // before the sync
  bool drop_caps_after_sync;
  bool unshare_cgroup_after_sync;
  int cap_last_cap;

  bool ptrace;
  bool stop;  // SIGSTOP self before the filter
  const sock_fprog* seccomp;
};

// The child's entry point: runs every step and execs; returns only its exit status on failure.
int child_main(void* plan);
// The namespace init's entry point (an InitPlan): never returns.
int init_main(void* plan);

}  // namespace tracebox::forkexec::detail
