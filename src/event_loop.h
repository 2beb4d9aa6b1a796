// EventLoop: the one place where a run waits. Descriptors with a handler each; wait_once() blocks
// in poll() until at least one is ready and calls the handler of each ready one. No timeouts in
// poll, no sleeping: time comes in as timerfds like any other source.
//
// Passive: the owner decides when to wait and what the handlers' effects mean (runner.cpp reads its
// state after each wait). A handler may watch or unwatch descriptors: a source unwatched, or watched
// anew, by a handler is not called again in the same wait_once() (its descriptor may be closed, or
// its number reused by another), and one watched anew is polled from the next.
#pragma once

#include <poll.h>

#include <functional>
#include <vector>

namespace ctxrun {

class EventLoop {
 public:
  using Handler = std::function<void(short revents)>;

  // Calls `on_ready` when `fd` has one of `events` (or an error). Watching a descriptor again
  // replaces its events and handler. A negative fd is ignored (a source that does not exist here).
  void watch(int fd, short events, Handler on_ready);
  void unwatch(int fd);

  // Waits for at least one watched descriptor (EINTR is retried) and calls the handlers of the
  // ready ones, in the order they were first watched. With nothing watched, returns at once.
  void wait_once();

 private:
  struct Source {
    int fd;
    short events;
    Handler on_ready;
    unsigned long serial;  // which watch() made it
  };
  bool still_watched(const Source& s) const;
  std::vector<Source> sources_;
  unsigned long watches_ = 0;
};

}  // namespace ctxrun
