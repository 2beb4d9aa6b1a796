// Context: Go's context.Context for a single-threaded event loop, in file descriptors.
//
// A context carries a deadline and a cancellation signal. It is done when it is cancelled, when its
// deadline passes, or when its parent is done. Each context is made from a parent with
// with_cancel, with_deadline or with_timeout; background() is the root that is never done.
//
// Semantics (as in Go):
//  - err() is empty while the context is not done; once done it returns canceled or
//    deadline_exceeded, and every later call returns the same value (the first cause wins and sticks).
//  - Cancelling a context cancels its descendants, never its parent.
//  - A child's deadline is the earlier of its parent's and its own; a deadline already past makes
//    the context done at once.
//
// done_fd() is a descriptor to wait on with poll/epoll: it becomes readable when the context may
// be done and stays readable once it is. It can also become readable for a moment when the wall
// clock is set (a with_deadline timer must then be re-armed): always confirm with err(), which
// re-arms and answers. Successive calls to done_fd() return the same descriptor.
//
// Deadlines from with_deadline follow the wall clock (CLOCK_REALTIME: a clock change moves them);
// timeouts from with_timeout do not (CLOCK_MONOTONIC).
//
// All members are safe to call from several threads. A context keeps its parent alive.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "ctxrun/deadline.h"
#include "ctxrun/unique_fd.h"

namespace ctxrun {

// Why a context is done.
enum class context_errc { canceled = 1, deadline_exceeded = 2 };
const std::error_category& context_category() noexcept;
std::error_code make_error_code(context_errc e) noexcept;

class Context;
using ContextPtr = std::shared_ptr<Context>;

// The root context: never done, no deadline. Successive calls return the same context.
ContextPtr background();

// A child of `parent` that is done when cancel() is called or parent is done.
ContextPtr with_cancel(ContextPtr parent);

// A child of `parent` that is also done at wall-clock time `when`; `cause` describes this
// deadline for messages ("deadline 2026-11-25T17:00:00Z").
ContextPtr with_deadline(ContextPtr parent, wall_time when, std::string cause);

// A child of `parent` that is also done `timeout` from now (monotonic clock); `cause` describes
// it ("timeout 2s"). A zero or negative timeout makes it done at once.
ContextPtr with_timeout(ContextPtr parent, std::chrono::nanoseconds timeout, std::string cause);

class Context {
 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Readable when the context may be done (see above); -1 for background(), which is never done.
  int done_fd() const noexcept { return epoll_.get(); }

  // Empty until done; then canceled or deadline_exceeded, the same on every call.
  std::error_code err();

  // What made the context done: the cause given to cancel() or to the deadline that passed ("" if
  // not done). The same on every call once done.
  std::string cause();

  // The earliest deadline of this context and its ancestors, as wall-clock time; nullopt if none.
  // For a timeout, the wall-clock time it was due when it was made.
  std::optional<wall_time> deadline() const noexcept;

  // Cancels this context and its descendants with `cause`. After the first call (or once the
  // context is done for any reason), further calls do nothing. No-op on background().
  void cancel(std::string cause);

 private:
  struct Timer {
    unique_fd fd;
    bool wall_clock = false;         // CLOCK_REALTIME + TFD_TIMER_ABSTIME, re-armed on clock change
    std::chrono::nanoseconds when{}; // absolute time on the timer's clock
    std::string cause;
  };
  Context() = default;
  // A child watching its own cancel eventfd, its optional timer and all its ancestors' fds.
  static ContextPtr make(ContextPtr parent, std::optional<Timer> timer, std::optional<wall_time> deadline);
  void mark_done(context_errc e, std::string cause);  // requires mutex_
  bool check_timer();                                 // requires mutex_

  friend ContextPtr background();
  friend ContextPtr with_cancel(ContextPtr);
  friend ContextPtr with_deadline(ContextPtr, wall_time, std::string);
  friend ContextPtr with_timeout(ContextPtr, std::chrono::nanoseconds, std::string);

  ContextPtr parent_;
  std::optional<Timer> timer_;
  std::optional<wall_time> own_deadline_;
  unique_fd cancel_;         // eventfd: written once when this context becomes done
  unique_fd epoll_;          // watches cancel_, timer_ and every ancestor's cancel_ and timer
  std::vector<int> sources_; // the fds epoll_ watches (owned by this context and its ancestors)
  std::mutex mutex_;
  std::error_code err_;      // empty until done; never changes after
  std::string cause_;
};

}  // namespace ctxrun

template <>
struct std::is_error_code_enum<ctxrun::context_errc> : std::true_type {};
