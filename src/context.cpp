#include "ctxrun/context.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace ctxrun {
namespace {

class ContextCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "context"; }
  std::string message(int e) const override {
    switch (static_cast<context_errc>(e)) {
      case context_errc::canceled: return "context canceled";
      case context_errc::deadline_exceeded: return "context deadline exceeded";
    }
    return "unknown context error";
  }
};

timespec to_timespec(std::chrono::nanoseconds ns) {
  auto count = ns.count();
  return timespec{static_cast<time_t>(count / 1000000000), static_cast<long>(count % 1000000000)};
}

std::chrono::nanoseconds now_on(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// a + b for b >= 0, saturating instead of wrapping around (a timeout of centuries is "never").
std::chrono::nanoseconds saturating_add(std::chrono::nanoseconds a, std::chrono::nanoseconds b) {
  if (a > std::chrono::nanoseconds::max() - b) return std::chrono::nanoseconds::max();
  return a + b;
}

// A context whose descriptors cannot be made could never become done: a deadline would be silently
// lost. Refuse instead, as an allocation failure would (EMFILE, ENFILE, ENOMEM, ENOSPC).
[[noreturn]] void cannot_make(const char* what) { throw std::system_error(errno, std::system_category(), what); }

unique_fd timer_fd(clockid_t clock) {
  unique_fd fd(timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd) cannot_make("ctxrun: context: timerfd_create");
  return fd;
}

// Arms an absolute timer. A wall-clock timer is cancelled (made readable, read gives ECANCELED)
// when the clock is set, so that it can be re-armed against the new time.
void arm(int fd, bool wall_clock, std::chrono::nanoseconds when) {
  itimerspec spec{};
  spec.it_value = to_timespec(when);
  int flags = TFD_TIMER_ABSTIME | (wall_clock ? TFD_TIMER_CANCEL_ON_SET : 0);
  timerfd_settime(fd, flags, &spec, nullptr);
}

}  // namespace

const std::error_category& context_category() noexcept {
  static const ContextCategory category;
  return category;
}

std::error_code make_error_code(context_errc e) noexcept { return {static_cast<int>(e), context_category()}; }

Context::~Context() = default;

ContextPtr background() {
  static const ContextPtr root(new Context());
  return root;
}

ContextPtr Context::make(ContextPtr parent, std::optional<Timer> timer, std::optional<wall_time> deadline) {
  ContextPtr child(new Context());
  child->cancel_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!child->cancel_) cannot_make("ctxrun: context: eventfd");
  child->epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!child->epoll_) cannot_make("ctxrun: context: epoll_create1");
  child->timer_ = std::move(timer);
  child->own_deadline_ = deadline;
  // Watching the ancestors' fds directly, rather than the parent's epoll fd, keeps epoll nesting
  // at one level however deep contexts are nested (the kernel refuses deep epoll nesting).
  child->sources_ = parent->sources_;
  child->sources_.push_back(child->cancel_.get());
  if (child->timer_) child->sources_.push_back(child->timer_->fd.get());
  for (int fd : child->sources_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(child->epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) cannot_make("ctxrun: context: epoll_ctl");
  }
  child->parent_ = std::move(parent);
  child->err();  // done at once when the parent is done or the deadline has passed
  return child;
}

ContextPtr with_cancel(ContextPtr parent) { return Context::make(std::move(parent), {}, {}); }

ContextPtr with_deadline(ContextPtr parent, wall_time when, std::string cause) {
  Context::Timer timer{.fd = timer_fd(CLOCK_REALTIME),
                       .wall_clock = true,
                       .when = when.time_since_epoch(),
                       .cause = std::move(cause)};
  // A deadline at or before the epoch cannot be armed (a zero time disarms): it has passed anyway.
  arm(timer.fd.get(), true, std::max(timer.when, std::chrono::nanoseconds(1)));
  return Context::make(std::move(parent), std::move(timer), when);
}

ContextPtr with_timeout(ContextPtr parent, std::chrono::nanoseconds timeout, std::string cause) {
  timeout = std::max(timeout, std::chrono::nanoseconds(0));
  auto now = now_on(CLOCK_MONOTONIC);
  Context::Timer timer{.fd = timer_fd(CLOCK_MONOTONIC),
                       .wall_clock = false,
                       .when = saturating_add(now, timeout),
                       .cause = std::move(cause)};
  // Armed at an absolute monotonic time, so a zero or negative timeout is already due.
  arm(timer.fd.get(), false, timer.when);
  wall_time wall = wall_time(saturating_add(now_on(CLOCK_REALTIME), timeout));
  return Context::make(std::move(parent), std::move(timer), wall);
}

void Context::mark_done(context_errc e, std::string cause) {
  err_ = make_error_code(e);
  cause_ = std::move(cause);
  std::uint64_t one = 1;
  // The eventfd stays readable from now on: done_fd() of this context and its descendants too.
  [[maybe_unused]] auto n = ::write(cancel_.get(), &one, sizeof one);
}

bool Context::check_timer() {
  if (!timer_) return false;
  std::uint64_t expirations = 0;
  ssize_t n = ::read(timer_->fd.get(), &expirations, sizeof expirations);
  if (n == sizeof expirations && expirations > 0) return true;
  if (n < 0 && errno == ECANCELED) {
    // The wall clock was set: re-arm against the new time (fires at once if now past).
    arm(timer_->fd.get(), true, std::max(timer_->when, std::chrono::nanoseconds(1)));
    // Re-arming a past time makes the timer readable immediately; read it now for a prompt answer.
    n = ::read(timer_->fd.get(), &expirations, sizeof expirations);
    return n == sizeof expirations && expirations > 0;
  }
  return false;
}

std::error_code Context::err() {
  if (!cancel_) return {};  // background
  std::lock_guard lock(mutex_);
  if (err_) return err_;
  bool own_due = check_timer();
  auto parent_err = parent_->err();
  // When both are due, the earlier deadline is the cause (a child may shorten its parent's).
  bool parent_first = parent_err && (!own_due || parent_err != context_errc::deadline_exceeded ||
                                     parent_->deadline() < own_deadline_);
  if (parent_first) mark_done(static_cast<context_errc>(parent_err.value()), parent_->cause());
  else if (own_due) mark_done(context_errc::deadline_exceeded, timer_->cause);
  return err_;
}

std::string Context::cause() {
  err();
  std::lock_guard lock(mutex_);
  return cause_;
}

std::optional<wall_time> Context::deadline() const noexcept {
  std::optional<wall_time> inherited = parent_ ? parent_->deadline() : std::nullopt;
  if (!inherited) return own_deadline_;
  if (!own_deadline_) return inherited;
  return std::min(*inherited, *own_deadline_);
}

void Context::cancel(std::string cause) {
  if (!cancel_) return;
  err();  // a deadline that has already passed wins over a later cancel
  std::lock_guard lock(mutex_);
  if (!err_) mark_done(context_errc::canceled, std::move(cause));
}

}  // namespace ctxrun
