// Spawning the command: fork, prepare the child, exec; 126 and 127 told apart.
#pragma once

#include <sys/types.h>

#include <string>
#include <variant>
#include <vector>

namespace ctxrun {

class SignalRegime;
class ProcessTree;

struct SpawnRequest {
  const std::vector<std::string>& argv;  // argv[0] is looked up in PATH unless it has a '/'
  const std::vector<std::string>& env;   // the command's whole environment, "NAME=value"
  const SignalRegime& signals;           // restored in the child before exec
  const ProcessTree& tree;               // prepare_child() runs before exec
  // Descriptors the command gets as its stdout and stderr instead of ctxrun's (an output relay's
  // pipe); -1: ctxrun's own.
  int stdout_fd = -1;
  int stderr_fd = -1;
  int stdin_fd = -1;  // instead of ctxrun's stdin (/dev/null for a retried attempt)
};

// Why the command could not be started.
struct SpawnFailure {
  int error = 0;               // errno of the failing step
  bool before_exec = false;    // fork or child preparation failed (ctxrun's own failure: 125)
  bool in_fork = false;        // fork() itself failed
  bool in_tree_setup = false;  // the command could not enter the tree (ProcessTree::prepare_child)
  // Exit status that tells the caller: 127 not found, 126 found but not executable, 125 otherwise.
  int exit_status() const noexcept;
};

// Starts the command and returns its pid once exec has succeeded, or why it failed. The child
// gets the signal mask and ignored signals ctxrun was started with, no descriptor ctxrun opened
// (all are close-on-exec), and SIGKILL as parent-death signal, so it cannot outlive a ctxrun that
// is killed itself. Between fork and exec the child makes only async-signal-safe calls on memory
// prepared before the fork. A command without #! that the kernel cannot run is run by /bin/sh,
// as execvp does.
std::variant<pid_t, SpawnFailure> spawn(const SpawnRequest& request) noexcept;

}  // namespace ctxrun
