#include "spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "ctxrun/outcome.h"
#include "ctxrun/unique_fd.h"
#include "process_tree.h"
#include "signal_regime.h"

namespace ctxrun {
namespace {

// Where execvp would look for `name`, in order. None for an empty name (execvp: ENOENT).
std::vector<std::string> candidates(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return {name};
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/bin:/usr/bin";
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    out.push_back((dir.empty() ? "." : dir) + "/" + name);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Where the child failed, as it reports it.
enum Stage : int { kExec = 0, kBeforeExec = 1, kTreeSetup = 2 };

// Writes errno and the stage to the report pipe and ends the child. Async-signal-safe.
[[noreturn]] void report_and_exit(int fd, int error, Stage stage) {
  int message[2] = {error, stage};
  [[maybe_unused]] auto n = ::write(fd, message, sizeof message);
  _exit(127);
}

// fork(), born in the cgroup `cgroup_fd` when there is one: clone3 with CLONE_INTO_CGROUP (Linux
// >= 5.7). Returns the pid (0 in the child), -1 with errno on failure; `born_inside` says whether
// the child is in that cgroup already. Where the kernel refuses the flag (ENOSYS or E2BIG before
// 5.3/5.7, EINVAL, or a cgroup it will not place the child in: EPERM, EBUSY, ...), a plain fork():
// the child then moves itself in, and that write gives the error that counts.
pid_t fork_into(int cgroup_fd, bool& born_inside) noexcept {
  born_inside = false;
  if (cgroup_fd >= 0) {
    clone_args args{};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<unsigned>(cgroup_fd);
    // Like fork(), without glibc's atfork handlers: the child makes only system calls until exec.
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      born_inside = true;
      return static_cast<pid_t>(pid);
    }
    if (errno == EAGAIN || errno == ENOMEM) return -1;
  }
  return fork();
}

}  // namespace

int SpawnFailure::exit_status() const noexcept {
  if (before_exec) return kExitFailure;
  return error == ENOENT || error == ENOTDIR ? kExitNotFound : kExitCannotExecute;
}

std::variant<pid_t, SpawnFailure> spawn(const SpawnRequest& request) noexcept {
  try {
    // Everything the child needs is prepared here, before fork.
    auto paths = candidates(request.argv.at(0));
    auto argv = pointers(request.argv);
    auto envp = pointers(request.env);
    // For ENOEXEC: "/bin/sh path args..." as execvp does.
    std::vector<std::string> sh_args{"/bin/sh", ""};
    sh_args.insert(sh_args.end(), request.argv.begin() + 1, request.argv.end());
    auto sh_argv = pointers(sh_args);
    pid_t parent = getpid();

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return SpawnFailure{.error = errno, .before_exec = true};
    unique_fd read_end(fds[0]), write_end(fds[1]);

    bool born_inside = false;
    pid_t pid = fork_into(request.tree.birth_cgroup_fd(), born_inside);
    if (pid < 0) return SpawnFailure{.error = errno, .before_exec = true, .in_fork = true};
    if (pid == 0) {
      int report = write_end.get();
      if (!request.tree.prepare_child(born_inside)) report_and_exit(report, errno, kTreeSetup);
      // Die with ctxrun; and if ctxrun died already (between fork and prctl), stop here.
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) report_and_exit(report, ESRCH, kBeforeExec);
      request.signals.restore_in_child();
      // dup2 leaves the new descriptor without close-on-exec: the command keeps it.
      if (request.stdin_fd >= 0 && dup2(request.stdin_fd, 0) < 0) report_and_exit(report, errno, kBeforeExec);
      if (request.stdout_fd >= 0 && dup2(request.stdout_fd, 1) < 0) report_and_exit(report, errno, kBeforeExec);
      if (request.stderr_fd >= 0 && dup2(request.stderr_fd, 2) < 0) report_and_exit(report, errno, kBeforeExec);
      // As glibc's execvp: go on past the errors that say "not here", stop at any other one; a
      // path that exists but cannot be run (EACCES) is what the user hears about, else the last.
      int error = ENOENT;
      bool denied = false;
      for (auto& path : paths) {
        execve(path.c_str(), argv.data(), envp.data());
        if (errno == ENOEXEC) {
          sh_argv[1] = const_cast<char*>(path.c_str());
          execve("/bin/sh", sh_argv.data(), envp.data());
        }
        error = errno;
        if (error == EACCES) denied = true;
        else if (error != ENOENT && error != ENOTDIR && error != ESTALE && error != ENODEV && error != ETIMEDOUT)
          report_and_exit(report, error, kExec);
      }
      report_and_exit(report, denied ? EACCES : error, kExec);
    }
    write_end.reset();
    int message[2] = {0, 0};
    ssize_t n;
    do n = ::read(read_end.get(), message, sizeof message);
    while (n < 0 && errno == EINTR);
    if (n == sizeof message) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
      return SpawnFailure{.error = message[0],
                          .before_exec = message[1] != kExec,
                          .in_tree_setup = message[1] == kTreeSetup};
    }
    return pid;  // the pipe closed on exec: the command runs
  } catch (...) {
    return SpawnFailure{.error = ENOMEM, .before_exec = true};
  }
}

}  // namespace ctxrun
