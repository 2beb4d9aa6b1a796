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
// Thread-safety: background(), with_cancel(), with_deadline(), with_timeout() and every member
// may be called from any thread, concurrently, on the same context too: a cancel() from one thread
// wakes a poll() on done_fd() in another. A context keeps its parent alive; its descriptors (an
// eventfd and an epoll fd, plus a timerfd for a deadline, all close-on-exec) are closed when the
// last ContextPtr to it, or to a descendant, is gone.
//
// Errors: with_* never return a context that could not become done. When its descriptors cannot
// be made (EMFILE, ENFILE, ENOMEM) they throw std::system_error, as they throw std::bad_alloc when
// memory runs out; nothing else throws.
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

// Why a context is done: the values of err(). Messages are Go's: "context canceled", "context
// deadline exceeded". context_errc converts to std::error_code implicitly (is_error_code_enum).
enum class context_errc { canceled = 1, deadline_exceeded = 2 };
// The category of err()'s codes, named "context". The same object on every call.
const std::error_category& context_category() noexcept;
std::error_code make_error_code(context_errc e) noexcept;

class Context;
using ContextPtr = std::shared_ptr<Context>;

// The root context: never done, no deadline. Successive calls return the same context.
ContextPtr background();

// Returns a new child of `parent` (each call a new context) that is done when its cancel() is
// called or `parent` is done, whichever comes first; done at once if `parent` is done already. It
// has `parent`'s deadline. `parent` must not be null.
ContextPtr with_cancel(ContextPtr parent);

// Returns a new child of `parent`, like with_cancel, that is also done with deadline_exceeded at
// wall-clock time `when` (or at once if `when` has passed); `cause` describes this deadline for
// messages ("deadline 2026-11-25T17:00:00Z"). Its deadline() is the earlier of `when` and
// parent's: a child can shorten its parent's deadline, never extend it.
ContextPtr with_deadline(ContextPtr parent, wall_time when, std::string cause);

// Returns a new child of `parent`, like with_cancel, that is also done with deadline_exceeded
// `timeout` from now on the monotonic clock; `cause` describes it ("timeout 2s"). A zero or
// negative timeout makes it done at once; one too large to represent never ends it.
ContextPtr with_timeout(ContextPtr parent, std::chrono::nanoseconds timeout, std::string cause);

class Context {
 public:
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Readable when the context may be done (see above); -1 for background(), which is never done.
  // The same descriptor on every call, owned by the context and valid while it lives: wait on it
  // with poll, select or epoll; never read, write or close it.
  int done_fd() const noexcept { return epoll_.get(); }

  // Empty until done; then canceled or deadline_exceeded, the same on every later call. Never
  // blocks.
  std::error_code err();

  // What made the context done: the cause given to cancel() or to the deadline that passed ("" if
  // not done). The same on every call once done.
  std::string cause();

  // The earliest deadline of this context and its ancestors, as wall-clock time; nullopt if none.
  // For a timeout, the wall-clock time it was due when it was made. Fixed when the context is
  // made: the same on every call, whether or not the context is done.
  std::optional<wall_time> deadline() const noexcept;

  // Cancels this context and its descendants with `cause`. After the first call (or once the
  // context is done for any reason), further calls do nothing. No-op on background().
  void cancel(std::string cause);

 private:
  struct Timer {
    unique_fd fd;
    bool wall_clock = false;          // CLOCK_REALTIME + TFD_TIMER_ABSTIME, re-armed on clock change
    std::chrono::nanoseconds when{};  // absolute time on the timer's clock
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
  unique_fd cancel_;          // eventfd: written once when this context becomes done
  unique_fd epoll_;           // watches cancel_, timer_ and every ancestor's cancel_ and timer
  std::vector<int> sources_;  // the fds epoll_ watches (owned by this context and its ancestors)
  std::mutex mutex_;
  std::error_code err_;  // empty until done; never changes after
  std::string cause_;
};

}  // namespace ctxrun

template <>
struct std::is_error_code_enum<ctxrun::context_errc> : std::true_type {};
