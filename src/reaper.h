// Reaper: reaps every child of ctxrun that has ended, and tells the command's end from the others'
// (orphans re-parented to ctxrun, a subreaper). Shared by both state machines (runner.cpp, the
// timeout personality). The guardian is a child that waitpid(-1) does not see (guardian.h).
#pragma once

#include <sys/types.h>

#include <optional>
#include <utility>
#include <vector>

namespace ctxrun {

class Reaper {
 public:
  // The command, just spawned: its end is recorded, not counted as an orphan's.
  void expect(pid_t command) noexcept { command_ = command; }

  // Reaps every child that has ended (waitpid(-1, WNOHANG), EINTR retried). Returns true if the
  // command was among them.
  bool reap() noexcept;

  // Another child whose end the caller wants to hear of (a service, an exec: probe): its status is
  // kept for take_ended(), and it is not counted as an orphan.
  void track(pid_t pid) {
    tracked_.push_back(pid);
    ended_.reserve(ended_.size() + tracked_.size());  // reap() is noexcept: it must not allocate
  }
  // The tracked children reaped since the last call, with their wait statuses, in the order reaped.
  std::vector<std::pair<pid_t, int>> take_ended() {
    auto ended = ended_;
    ended_.clear();  // keeps its capacity
    return ended;
  }

  // The command's pid while it is not reaped.
  std::optional<pid_t> command() const noexcept { return command_; }
  // The command's wait status, once reaped.
  std::optional<int> command_status() const noexcept { return status_; }
  // False once waitpid said ECHILD: ctxrun has no child left (the guardian aside).
  bool has_children() const noexcept { return has_children_; }
  // Children other than the command that were reaped.
  int others_reaped() const noexcept { return others_; }

 private:
  std::optional<pid_t> command_;
  std::optional<int> status_;
  bool has_children_ = true;
  int others_ = 0;
  std::vector<pid_t> tracked_;
  std::vector<std::pair<pid_t, int>> ended_;
};

}  // namespace ctxrun
