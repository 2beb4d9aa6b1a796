// EventLoop (src/event_loop.h): a handler that unwatches, or watches anew, another source that was
// ready in the same wait does not have that source's old handler called (its descriptor may be
// closed, or its number taken by another); real pipes, both readable at once.
#include "event_loop.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "ctxrun/unique_fd.h"

namespace {

struct ReadyPipe {
  ctxrun::unique_fd read, write;
  ReadyPipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
    REQUIRE(::write(write.get(), "x", 1) == 1);  // readable from now on
  }
};

}  // namespace

TEST_CASE("event loop: a source unwatched by an earlier handler of the same wait is not called") {
  ReadyPipe a, b;
  ctxrun::EventLoop loop;
  std::vector<char> called;
  loop.watch(a.read.get(), POLLIN, [&](short) {
    called.push_back('a');
    loop.unwatch(b.read.get());
  });
  loop.watch(b.read.get(), POLLIN, [&](short) { called.push_back('b'); });
  loop.wait_once();
  CHECK(called == std::vector<char>{'a'});
}

TEST_CASE("event loop: a source watched anew by an earlier handler gets its new handler from the next wait") {
  ReadyPipe a, b;
  ctxrun::EventLoop loop;
  std::vector<char> called;
  loop.watch(a.read.get(), POLLIN, [&](short) {
    called.push_back('a');
    loop.unwatch(a.read.get());
    loop.watch(b.read.get(), POLLIN, [&](short) { called.push_back('B'); });
  });
  loop.watch(b.read.get(), POLLIN, [&](short) { called.push_back('b'); });
  loop.wait_once();
  CHECK(called == std::vector<char>{'a'});
  loop.wait_once();
  CHECK(called == std::vector<char>{'a', 'B'});
}
