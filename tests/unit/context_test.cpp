// Context (include/ctxrun/context.h), against the semantics of Go's context package.
//
// Nothing here sleeps: waiting is poll() on done_fd() with a generous timeout, so a slow machine
// makes the tests slower, never wrong.
#include "ctxrun/context.h"

#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using ctxrun::background;
using ctxrun::context_category;
using ctxrun::context_errc;
using ctxrun::ContextPtr;
using ctxrun::wall_time;
using ctxrun::with_cancel;
using ctxrun::with_deadline;
using ctxrun::with_timeout;

namespace doctest {
template <>
struct StringMaker<std::error_code> {
  static String convert(const std::error_code& e) {
    return e ? String((std::string(e.category().name()) + ":" + e.message()).c_str()) : String("<none>");
  }
};
}  // namespace doctest

namespace {

constexpr int kGenerousMs = 5000;  // a bound that only a broken implementation reaches

// Whether `fd` is readable within `timeout_ms` (0: right now).
bool readable(int fd, int timeout_ms) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  int n = ::poll(&p, 1, timeout_ms);
  return n == 1 && (p.revents & POLLIN) != 0;
}

std::error_code canceled() { return make_error_code(context_errc::canceled); }
std::error_code deadline_exceeded() { return make_error_code(context_errc::deadline_exceeded); }

wall_time wall_now() { return wall_time(std::chrono::system_clock::now().time_since_epoch()); }

std::int64_t ns(std::optional<wall_time> t) {
  REQUIRE(t.has_value());
  return t->time_since_epoch().count();
}

}  // namespace

TEST_CASE("error codes: messages and category as in Go") {
  CHECK(std::string(context_category().name()) == "context");
  CHECK(canceled().message() == "context canceled");
  CHECK(deadline_exceeded().message() == "context deadline exceeded");
  CHECK(canceled().value() == 1);
  CHECK(deadline_exceeded().value() == 2);
  CHECK(canceled().category() == context_category());
  std::error_code from_enum = context_errc::deadline_exceeded;  // is_error_code_enum
  CHECK(from_enum == deadline_exceeded());
  CHECK(from_enum != canceled());
  CHECK(from_enum != std::error_code(2, std::generic_category()));
  CHECK(bool(canceled()));
}

TEST_CASE("background: never done, no fd, no deadline, the same every call") {
  ContextPtr bg = background();
  REQUIRE(bg != nullptr);
  CHECK(bg.get() == background().get());
  CHECK_FALSE(bg->err());
  CHECK(bg->cause() == "");
  CHECK(bg->done_fd() == -1);
  CHECK_FALSE(bg->deadline().has_value());
  bg->cancel("ignored");  // a no-op
  CHECK_FALSE(bg->err());
  CHECK(bg->cause() == "");
  CHECK_FALSE(background()->err());
}

TEST_CASE("with_cancel: not done until cancelled, then canceled with the first cause for good") {
  ContextPtr ctx = with_cancel(background());
  CHECK_FALSE(ctx->err());
  CHECK(ctx->cause() == "");
  CHECK_FALSE(ctx->deadline().has_value());
  int fd = ctx->done_fd();
  REQUIRE(fd >= 0);
  CHECK(ctx->done_fd() == fd);
  CHECK_FALSE(readable(fd, 0));

  ctx->cancel("first");
  CHECK(ctx->err() == canceled());
  CHECK(ctx->cause() == "first");
  CHECK(readable(fd, 0));

  // The first cancel wins and sticks.
  ctx->cancel("second");
  CHECK(ctx->err() == canceled());
  CHECK(ctx->cause() == "first");
  CHECK(ctx->done_fd() == fd);
  for (int i = 0; i < 3; ++i) CHECK(readable(fd, 0));  // stays readable
  CHECK_FALSE(background()->err());
}

TEST_CASE("with_cancel: each context has its own done_fd") {
  ContextPtr a = with_cancel(background());
  ContextPtr b = with_cancel(background());
  CHECK(a->done_fd() != b->done_fd());
  a->cancel("a");
  CHECK(readable(a->done_fd(), 0));
  CHECK_FALSE(readable(b->done_fd(), 0));
  CHECK_FALSE(b->err());
}

TEST_CASE("cancelling a parent cancels its children and grandchildren, with the parent's cause") {
  ContextPtr parent = with_cancel(background());
  ContextPtr child = with_cancel(parent);
  ContextPtr other_child = with_cancel(parent);
  ContextPtr grandchild = with_cancel(child);
  CHECK_FALSE(child->err());
  CHECK_FALSE(grandchild->err());
  CHECK_FALSE(readable(grandchild->done_fd(), 0));

  parent->cancel("parent stopped");
  // The descendants' fds become readable without anyone asking them for err() first.
  CHECK(readable(grandchild->done_fd(), kGenerousMs));
  CHECK(readable(child->done_fd(), kGenerousMs));
  CHECK(readable(other_child->done_fd(), kGenerousMs));
  CHECK(grandchild->err() == canceled());
  CHECK(grandchild->cause() == "parent stopped");
  CHECK(child->err() == canceled());
  CHECK(child->cause() == "parent stopped");
  CHECK(other_child->err() == canceled());
  CHECK(other_child->cause() == "parent stopped");
  CHECK(parent->err() == canceled());
  CHECK(parent->cause() == "parent stopped");

  // Cancelling a child afterwards changes nothing.
  child->cancel("too late");
  CHECK(child->cause() == "parent stopped");
}

TEST_CASE("cancelling a child does not affect its parent or siblings") {
  ContextPtr parent = with_cancel(background());
  ContextPtr child = with_cancel(parent);
  ContextPtr sibling = with_cancel(parent);
  ContextPtr grandchild = with_cancel(child);

  child->cancel("child stopped");
  CHECK(child->err() == canceled());
  CHECK(grandchild->err() == canceled());
  CHECK(grandchild->cause() == "child stopped");
  CHECK_FALSE(parent->err());
  CHECK(parent->cause() == "");
  CHECK_FALSE(readable(parent->done_fd(), 0));
  CHECK_FALSE(sibling->err());
  CHECK_FALSE(readable(sibling->done_fd(), 0));

  // A child cancelled first keeps its own cause when the parent is cancelled later.
  parent->cancel("parent stopped");
  CHECK(child->cause() == "child stopped");
  CHECK(grandchild->cause() == "child stopped");
  CHECK(sibling->cause() == "parent stopped");
}

TEST_CASE("a child of a done parent is done at once") {
  ContextPtr parent = with_cancel(background());
  parent->cancel("gone");
  ContextPtr child = with_cancel(parent);
  CHECK(child->err() == canceled());
  CHECK(child->cause() == "gone");
  CHECK(readable(child->done_fd(), 0));
  ContextPtr timed = with_timeout(parent, 1h, "timeout 1h");
  CHECK(timed->err() == canceled());
  CHECK(timed->cause() == "gone");
}

TEST_CASE("with_timeout: zero or negative is done at once, with deadline_exceeded and the cause") {
  for (std::chrono::nanoseconds timeout :
       {std::chrono::nanoseconds(0), std::chrono::nanoseconds(-1), std::chrono::nanoseconds(-1h)}) {
    CAPTURE(timeout.count());
    wall_time before = wall_now();
    ContextPtr ctx = with_timeout(background(), timeout, "timeout now");
    wall_time after = wall_now();
    CHECK(ctx->err() == deadline_exceeded());
    CHECK(ctx->cause() == "timeout now");
    CHECK(readable(ctx->done_fd(), 0));
    // The deadline is "now", not in the past by the negative amount.
    CHECK(ns(ctx->deadline()) >= before.time_since_epoch().count());
    CHECK(ns(ctx->deadline()) <= after.time_since_epoch().count());
    ctx->cancel("later");
    CHECK(ctx->err() == deadline_exceeded());
    CHECK(ctx->cause() == "timeout now");
  }
}

TEST_CASE("with_deadline: a past deadline is done at once, with deadline_exceeded and the cause") {
  for (wall_time when : {wall_now() - 1s, wall_now() - 24h, wall_time(), wall_time(-1s)}) {
    CAPTURE(when.time_since_epoch().count());
    ContextPtr ctx = with_deadline(background(), when, "deadline past");
    CHECK(ctx->err() == deadline_exceeded());
    CHECK(ctx->cause() == "deadline past");
    CHECK(readable(ctx->done_fd(), 0));
    CHECK(ns(ctx->deadline()) == when.time_since_epoch().count());
  }
}

TEST_CASE("with_deadline: a future deadline is not done, and reported by deadline()") {
  wall_time when = wall_now() + 1h;
  ContextPtr ctx = with_deadline(background(), when, "deadline in an hour");
  CHECK_FALSE(ctx->err());
  CHECK(ctx->cause() == "");
  CHECK_FALSE(readable(ctx->done_fd(), 0));
  CHECK(ns(ctx->deadline()) == when.time_since_epoch().count());
  // Children inherit it.
  CHECK(ns(with_cancel(ctx)->deadline()) == when.time_since_epoch().count());
  ctx->cancel("stop");
  CHECK(ctx->err() == canceled());
  CHECK(ctx->cause() == "stop");
}

TEST_CASE("deadline(): a child's is the earlier of its parent's and its own, in either order") {
  wall_time now = wall_now();
  wall_time sooner = now + 1h;
  wall_time later = now + 2h;
  SUBCASE("parent sooner") {
    ContextPtr parent = with_deadline(background(), sooner, "p");
    ContextPtr child = with_deadline(parent, later, "c");
    CHECK(ns(child->deadline()) == sooner.time_since_epoch().count());
    CHECK(ns(parent->deadline()) == sooner.time_since_epoch().count());
  }
  SUBCASE("child sooner") {
    ContextPtr parent = with_deadline(background(), later, "p");
    ContextPtr child = with_deadline(parent, sooner, "c");
    CHECK(ns(child->deadline()) == sooner.time_since_epoch().count());
    CHECK(ns(parent->deadline()) == later.time_since_epoch().count());
  }
  SUBCASE("through a with_cancel in between") {
    ContextPtr parent = with_deadline(background(), sooner, "p");
    ContextPtr middle = with_cancel(parent);
    ContextPtr child = with_deadline(middle, later, "c");
    CHECK(ns(child->deadline()) == sooner.time_since_epoch().count());
  }
  SUBCASE("a timeout child of a deadline parent") {
    ContextPtr parent = with_deadline(background(), later, "p");
    wall_time before = wall_now();
    ContextPtr child = with_timeout(parent, 30min, "c");
    wall_time after = wall_now();
    CHECK(ns(child->deadline()) >= (before + 30min).time_since_epoch().count());
    CHECK(ns(child->deadline()) <= (after + 30min).time_since_epoch().count());
    ContextPtr grandchild = with_deadline(child, sooner, "g");  // sooner (1h) is after 30min
    CHECK(ns(grandchild->deadline()) == ns(child->deadline()));
  }
}

TEST_CASE("with_timeout: becomes done when due, and done_fd stays readable afterwards") {
  auto start = std::chrono::steady_clock::now();
  ContextPtr ctx = with_timeout(background(), 50ms, "timeout 50ms");
  bool done_early = bool(ctx->err());
  auto checked = std::chrono::steady_clock::now();
  // Done before 50ms have passed would be wrong (however slow this machine is).
  CHECK((!done_early || checked - start >= 50ms));

  REQUIRE(readable(ctx->done_fd(), kGenerousMs));
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed >= 45ms);
  CHECK(ctx->err() == deadline_exceeded());
  CHECK(ctx->cause() == "timeout 50ms");
  // err() consumed the timer's expiry; the fd must stay readable all the same.
  for (int i = 0; i < 5; ++i) {
    CHECK(readable(ctx->done_fd(), 0));
    CHECK(ctx->err() == deadline_exceeded());
  }
  ctx->cancel("after the deadline");
  CHECK(ctx->err() == deadline_exceeded());
  CHECK(ctx->cause() == "timeout 50ms");
  CHECK(readable(ctx->done_fd(), 0));
}

TEST_CASE("with_timeout: a descendant's done_fd becomes readable when an ancestor's timeout is due") {
  auto start = std::chrono::steady_clock::now();
  ContextPtr parent = with_timeout(background(), 50ms, "timeout 50ms");
  ContextPtr child = with_cancel(parent);
  ContextPtr grandchild = with_timeout(child, 1h, "timeout 1h");
  // Nobody asks the parent: the grandchild's fd alone must tell.
  REQUIRE(readable(grandchild->done_fd(), kGenerousMs));
  CHECK(std::chrono::steady_clock::now() - start >= 45ms);
  CHECK(grandchild->err() == deadline_exceeded());
  CHECK(grandchild->cause() == "timeout 50ms");
  CHECK(child->err() == deadline_exceeded());
  CHECK(child->cause() == "timeout 50ms");
  CHECK(parent->err() == deadline_exceeded());
  CHECK(readable(parent->done_fd(), 0));
  CHECK(readable(child->done_fd(), 0));
  CHECK(readable(grandchild->done_fd(), 0));
}

TEST_CASE("a child's shorter timeout ends the child only") {
  ContextPtr parent = with_timeout(background(), 1h, "timeout 1h");
  ContextPtr child = with_timeout(parent, 0ns, "timeout 0s");
  CHECK(child->err() == deadline_exceeded());
  CHECK(child->cause() == "timeout 0s");
  CHECK_FALSE(parent->err());
  CHECK_FALSE(readable(parent->done_fd(), 0));
}

TEST_CASE("a cancel after the deadline passed keeps deadline_exceeded") {
  ContextPtr ctx = with_timeout(background(), 20ms, "timeout 20ms");
  // Wait for the fd only: the cancel below is the first call to look at the timer.
  REQUIRE(readable(ctx->done_fd(), kGenerousMs));
  ctx->cancel("late cancel");
  CHECK(ctx->err() == deadline_exceeded());
  CHECK(ctx->cause() == "timeout 20ms");

  ContextPtr past = with_deadline(background(), wall_now() - 1s, "deadline past");
  past->cancel("late cancel");
  CHECK(past->err() == deadline_exceeded());
  CHECK(past->cause() == "deadline past");
}

TEST_CASE("a past deadline on the parent makes a child created afterwards done at once") {
  wall_time when = wall_now() - 1s;
  ContextPtr parent = with_deadline(background(), when, "deadline past");
  ContextPtr child = with_cancel(parent);
  CHECK(child->err() == deadline_exceeded());
  CHECK(child->cause() == "deadline past");
  CHECK(readable(child->done_fd(), 0));
  CHECK(ns(child->deadline()) == when.time_since_epoch().count());
  ContextPtr timed = with_timeout(parent, 1h, "timeout 1h");
  CHECK(timed->err() == deadline_exceeded());
  CHECK(timed->cause() == "deadline past");
  CHECK(ns(timed->deadline()) == when.time_since_epoch().count());
  // Cancelling the child now changes nothing.
  child->cancel("late");
  CHECK(child->err() == deadline_exceeded());
  CHECK(child->cause() == "deadline past");
}

TEST_CASE("nesting 10 levels deep: cancelling the outermost ends the innermost") {
  wall_time in_an_hour = wall_now() + 1h;
  ContextPtr root = with_cancel(background());
  std::vector<ContextPtr> chain{root};
  for (int level = 1; level < 10; ++level) {
    const ContextPtr& up = chain.back();
    switch (level % 3) {
      case 0: chain.push_back(with_cancel(up)); break;
      case 1: chain.push_back(with_timeout(up, 2h, "timeout 2h")); break;
      default: chain.push_back(with_deadline(up, in_an_hour, "deadline in an hour")); break;
    }
  }
  REQUIRE(chain.size() == 10);
  ContextPtr deepest = chain.back();
  CHECK_FALSE(deepest->err());
  CHECK_FALSE(readable(deepest->done_fd(), 0));
  CHECK(ns(deepest->deadline()) == in_an_hour.time_since_epoch().count());

  root->cancel("root cancelled");
  REQUIRE(readable(deepest->done_fd(), kGenerousMs));
  CHECK(deepest->err() == canceled());
  CHECK(deepest->cause() == "root cancelled");
  for (const ContextPtr& ctx : chain) {
    CHECK(ctx->err() == canceled());
    CHECK(ctx->cause() == "root cancelled");
    CHECK(readable(ctx->done_fd(), 0));
  }
}

TEST_CASE("nesting 10 levels deep: cancelling a middle level ends only the levels below it") {
  std::vector<ContextPtr> chain{with_cancel(background())};
  for (int level = 1; level < 10; ++level) chain.push_back(with_cancel(chain.back()));
  chain[4]->cancel("middle");
  REQUIRE(readable(chain[9]->done_fd(), kGenerousMs));
  for (std::size_t i = 0; i < chain.size(); ++i) {
    CAPTURE(i);
    if (i < 4) {
      CHECK_FALSE(chain[i]->err());
      CHECK_FALSE(readable(chain[i]->done_fd(), 0));
    } else {
      CHECK(chain[i]->err() == canceled());
      CHECK(chain[i]->cause() == "middle");
    }
  }
}

TEST_CASE("a context keeps its parent alive") {
  ContextPtr child;
  {
    ContextPtr parent = with_cancel(background());
    child = with_cancel(parent);
    parent->cancel("parent");
  }
  CHECK(child->err() == canceled());
  CHECK(child->cause() == "parent");
}

TEST_CASE("cancel from another thread wakes a poller") {
  ContextPtr parent = with_cancel(background());
  ContextPtr child = with_cancel(parent);
  std::thread canceller([&] { parent->cancel("from a thread"); });
  bool woke = readable(child->done_fd(), kGenerousMs);
  canceller.join();
  CHECK(woke);
  CHECK(child->err() == canceled());
  CHECK(child->cause() == "from a thread");
}

TEST_CASE("with_timeout: a timeout of centuries saturates instead of wrapping into the past") {
  // Regression: now + timeout overflowed, giving a deadline() before 1970 (exported as CTXRUN_DEADLINE).
  for (std::chrono::nanoseconds timeout :
       {std::chrono::nanoseconds(9'100'000'000'000'000'000), std::chrono::nanoseconds::max()}) {
    CAPTURE(timeout.count());
    ContextPtr ctx = with_timeout(background(), timeout, "timeout forever");
    CHECK_FALSE(ctx->err());
    CHECK_FALSE(readable(ctx->done_fd(), 0));
    CHECK(ns(ctx->deadline()) == wall_time::max().time_since_epoch().count());
  }
}

namespace {

// The descriptors this process has open now.
int open_fds() {
  int n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
    closedir(dir);
  }
  return n - 1;  // opendir's own
}

}  // namespace

TEST_CASE("lib: context: concurrent cancels from many threads: one cause wins, and every caller sees it") {
  for (int round = 0; round < 20; ++round) {
    ContextPtr parent = with_cancel(background());
    ContextPtr child = with_timeout(parent, 1h, "timeout 1h");
    std::vector<std::thread> threads;
    std::vector<std::string> seen(8);
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        ContextPtr target = i % 2 ? parent : child;
        target->cancel("cause " + std::to_string(i));
        seen[static_cast<std::size_t>(i)] = child->cause();
      });
    for (auto& t : threads) t.join();
    std::string winner = child->cause();
    CAPTURE(winner);
    CHECK(winner.rfind("cause ", 0) == 0);
    for (const auto& s : seen) CHECK(s == winner);  // each read after its own cancel: done already
    CHECK(child->err() == canceled());
    CHECK(readable(child->done_fd(), 0));
    CHECK(child->cause() == winner);  // and it sticks
  }
}

TEST_CASE("lib: context: a child ended by its own deadline keeps it when the parent is cancelled later") {
  ContextPtr parent = with_cancel(background());
  ContextPtr child = with_timeout(parent, 0ns, "timeout 0s");
  REQUIRE(child->err() == deadline_exceeded());
  parent->cancel("parent stopped");
  CHECK(child->err() == deadline_exceeded());
  CHECK(child->cause() == "timeout 0s");
  CHECK(parent->err() == canceled());
}

TEST_CASE("lib: context: deadline() and done_fd() are fixed when the context is made") {
  ContextPtr ctx = with_timeout(background(), 30ms, "timeout 30ms");
  auto deadline = ctx->deadline();
  int fd = ctx->done_fd();
  REQUIRE(readable(fd, kGenerousMs));
  CHECK(ctx->err() == deadline_exceeded());
  CHECK(ctx->deadline() == deadline);
  CHECK(ctx->done_fd() == fd);
}

TEST_CASE("lib: context: descriptors are close-on-exec, and released with the last reference") {
  int before = open_fds();
  {
    ContextPtr parent = with_deadline(background(), wall_now() + 1h, "deadline in an hour");
    ContextPtr child = with_timeout(with_cancel(parent), 1h, "timeout 1h");
    CHECK(open_fds() > before);
    for (const ContextPtr& ctx : {parent, child}) {
      int flags = fcntl(ctx->done_fd(), F_GETFD);
      REQUIRE(flags >= 0);
      CHECK((flags & FD_CLOEXEC) != 0);
    }
    // The middle context has no ContextPtr of its own: the child keeps it (and its fds) alive.
    parent.reset();
    CHECK_FALSE(child->err());
  }
  CHECK(open_fds() == before);
  // Many contexts made and dropped: nothing accumulates.
  for (int i = 0; i < 2000; ++i) with_timeout(with_cancel(background()), 1h, "timeout 1h")->cancel("done");
  CHECK(open_fds() == before);
}

TEST_CASE(
    "lib: context: with_* throw std::system_error when descriptors run out, never return a context that cannot end") {
  // The lowest free descriptor becomes the limit: every new one fails with EMFILE.
  int lowest = dup(0);
  REQUIRE(lowest >= 0);
  close(lowest);
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  ContextPtr parent = with_cancel(background());  // made before the limit
  int before = open_fds();
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  auto emfile = [](auto make) {
    try {
      make();
      return std::error_code();
    } catch (const std::system_error& e) {
      return e.code();
    }
  };
  std::error_code cancel_error = emfile([&] { return with_cancel(parent); });
  std::error_code timeout_error = emfile([&] { return with_timeout(parent, 1h, "timeout 1h"); });
  std::error_code deadline_error = emfile([&] { return with_deadline(parent, wall_now() + 1h, "deadline"); });
  setrlimit(RLIMIT_NOFILE, &saved);
  CHECK(cancel_error == std::errc::too_many_files_open);
  CHECK(timeout_error == std::errc::too_many_files_open);
  CHECK(deadline_error == std::errc::too_many_files_open);
  CHECK(open_fds() == before);  // nothing half-made left open
  CHECK_FALSE(parent->err());
  // With descriptors back, the same calls work.
  CHECK_FALSE(with_timeout(parent, 1h, "timeout 1h")->err());
}
