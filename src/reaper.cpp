#include "reaper.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>

namespace ctxrun {

bool Reaper::reap() noexcept {
  bool command_ended = false;
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      if (command_ && pid == *command_) {
        status_ = status;
        command_.reset();
        command_ended = true;
      } else if (auto it = std::find(tracked_.begin(), tracked_.end(), pid); it != tracked_.end()) {
        tracked_.erase(it);
        ended_.emplace_back(pid, status);
      } else {
        ++others_;
      }
      continue;
    }
    if (pid < 0 && errno == EINTR) continue;
    has_children_ = pid == 0;
    return command_ended;
  }
}

}  // namespace ctxrun
