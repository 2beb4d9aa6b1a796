#include "relay.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "ctxrun/unique_fd.h"

namespace ctxrun {
namespace {

// One chunk in flight: a pipe's default capacity. PIPE_BUF bytes go to a pipe at once when poll()
// says it is writable, so a write of at most that never blocks the event loop.
constexpr std::size_t kChunk = 64 * 1024;

// Whether `fd` is the caller's: open and inherited. Every descriptor ctxrun opens itself is
// close-on-exec, and none it inherited can be (exec closed those): so when the caller closed fd 1
// or 2, ctxrun's own signalfd that took the number is not taken for the caller's output.
bool is_callers(int fd) {
  int flags = fcntl(fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) == 0;
}

// Whether fds 1 and 2 are the same open file description (dup'ed: `>log 2>&1`, a terminal).
bool same_open_file() {
  long same = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 1, 2);
  if (same >= 0) return same == 0;
  // No kcmp (a kernel without it): the same file is the next best answer.
  struct stat a {
  }, b{};
  return fstat(1, &a) == 0 && fstat(2, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool writable_now(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
}

}  // namespace

struct OutputRelay::Stream {
  int dst = -1;        // ctxrun's fd 1 or 2 (a labelled stream: its own copy of it)
  int origin = 1;      // 1 or 2: which of ctxrun's fds the bytes go to
  unique_fd src;       // the pipe's read end, non-blocking; empty once closed
  unique_fd child;     // the pipe's write end, until the command has it
  bool splice = true;  // false: read/write (track_lines, or splice refused)
  bool blocked = false;
  bool may_block = true;   // dst is a pipe, socket or terminal (not a file, not /dev/null)
  std::string pending;     // read/write mode: read, not yet written
  std::string label;       // put before each line (a labelled service's stream)
  bool line_start = true;  // the next byte read starts a line (labelled streams)
  unique_fd own_dst;       // a labelled stream's copy of fd 1 or 2: the loop watches one fd per stream
  char last = '\n';        // the last byte written to dst (read/write mode)
  std::uint64_t bytes = 0;
};

Result<std::unique_ptr<OutputRelay>> OutputRelay::make(bool track_lines, bool relay_main) {
  std::unique_ptr<OutputRelay> relay(new OutputRelay());
  relay->track_lines_ = track_lines;
  bool out_open = is_callers(1), err_open = is_callers(2);
  relay->merged_ = out_open && err_open && same_open_file();
  auto stream = [&](int dst) -> Result<std::unique_ptr<Stream>> {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return fmt::format("cannot make the output relay's pipe: {}", std::strerror(errno));
    auto s = std::make_unique<Stream>();
    s->dst = dst;
    s->origin = dst;
    struct stat st {};
    s->may_block = fstat(dst, &st) != 0 || !(S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && !isatty(dst)));
    s->src.reset(fds[0]);
    s->child.reset(fds[1]);
    // Only the read end, which is ctxrun's own, is made non-blocking; the write end is the command's.
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    s->splice = !track_lines;
    return s;
  };
  for (auto [open, dst, into] :
       {std::tuple{out_open, 1, &relay->out_}, std::tuple{err_open && !relay->merged_, 2, &relay->err_}}) {
    if (!open || !relay_main) continue;
    auto made = stream(dst);
    if (auto* error = std::get_if<std::string>(&made)) return *error;
    *into = std::move(std::get<std::unique_ptr<Stream>>(made));
  }
  return relay;
}

OutputRelay::~OutputRelay() = default;

std::vector<OutputRelay::Stream*> OutputRelay::streams() const {
  std::vector<Stream*> all;
  for (auto* s : {out_.get(), err_.get()})
    if (s) all.push_back(s);
  for (const auto& s : labelled_) all.push_back(s.get());
  return all;
}

Result<OutputRelay::Labelled> OutputRelay::add_labelled(const std::string& label) {
  Labelled ends;
  bool out_open = is_callers(1), err_open = is_callers(2);
  for (auto [open, dst, end] : {std::tuple{out_open, 1, &ends.out}, std::tuple{err_open && !merged_, 2, &ends.err}}) {
    if (!open) continue;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return fmt::format("cannot make the output relay's pipe: {}", std::strerror(errno));
    auto s = std::make_unique<Stream>();
    s->src.reset(fds[0]);
    end->reset(fds[1]);
    s->own_dst.reset(fcntl(dst, F_DUPFD_CLOEXEC, 3));
    if (!s->own_dst) return fmt::format("cannot duplicate fd {} for the output relay: {}", dst, std::strerror(errno));
    s->dst = s->own_dst.get();
    s->origin = dst;
    struct stat st {};
    s->may_block = fstat(dst, &st) != 0 || !(S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && !isatty(dst)));
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    s->splice = false;  // the label goes in between
    s->label = label;
    labelled_.push_back(std::move(s));
    if (loop_) watch(*labelled_.back());
  }
  return ends;
}

int OutputRelay::child_stdout() const noexcept { return out_ ? out_->child.get() : -1; }

int OutputRelay::child_stderr() const noexcept {
  if (merged_) return out_ ? out_->child.get() : -1;
  return err_ ? err_->child.get() : -1;
}

void OutputRelay::close_child_ends() noexcept {
  for (auto* s : {out_.get(), err_.get()})
    if (s) s->child.reset();
}

// Bytes from the tree (labels not counted), by the fd they went to; merged: all on stdout.
std::uint64_t OutputRelay::bytes_to(int origin) const noexcept {
  std::uint64_t n = 0;
  for (auto* s : {out_.get(), err_.get()})
    if (s && s->origin == origin) n += s->bytes;
  for (const auto& s : labelled_)
    if (s->origin == origin) n += s->bytes;
  return n;
}
std::uint64_t OutputRelay::stdout_bytes() const noexcept { return bytes_to(1); }
std::uint64_t OutputRelay::stderr_bytes() const noexcept { return bytes_to(2); }

OutputRelay::Stream* OutputRelay::stderr_stream() noexcept { return merged_ ? out_.get() : err_.get(); }

void OutputRelay::attach(EventLoop& loop, std::function<void()> on_output, std::function<void(bool)> on_blocked) {
  loop_ = &loop;
  on_output_ = std::move(on_output);
  on_blocked_ = std::move(on_blocked);
  for (auto* s : streams()) watch(*s);
}

// Waits for what the stream needs next: the caller's side to take bytes, or the command to write.
void OutputRelay::watch(Stream& s) {
  if (!loop_) return;
  if (!s.src) {
    loop_->unwatch(s.dst);
    return;
  }
  if (s.blocked) {
    loop_->unwatch(s.src.get());
    loop_->watch(s.dst, POLLOUT, [this, &s](short) {
      s.blocked = false;
      loop_->unwatch(s.dst);
      if (on_blocked_) on_blocked_(false);
      pump(s);
    });
  } else {
    loop_->watch(s.src.get(), POLLIN, [this, &s](short) { pump(s); });
  }
}

// Moves what can move now without blocking; then watches for what comes next.
void OutputRelay::pump(Stream& s) {
  bool moved = false;
  auto close_source = [&] {
    if (loop_ && s.src) loop_->unwatch(s.src.get());
    s.src.reset();  // writers now get EPIPE (caller gone) or nothing more is coming (EOF)
    s.pending.clear();
  };
  auto block = [&] {
    s.blocked = true;
    if (on_blocked_) on_blocked_(true);
  };
  while (s.src && !s.blocked) {
    // Read/write mode: what was read goes out first, PIPE_BUF at a time, while the caller's side
    // says it takes more.
    if (!s.pending.empty()) {
      // A file or /dev/null takes it all at once; a pipe, socket or terminal takes what poll() says
      // it takes without blocking the loop: PIPE_BUF.
      if (s.may_block && !writable_now(s.dst)) {
        block();
        break;
      }
      std::size_t n = s.may_block ? std::min<std::size_t>(s.pending.size(), PIPE_BUF) : s.pending.size();
      ssize_t w = ::write(s.dst, s.pending.data(), n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) {
        block();
        break;
      }
      if (w < 0) {  // EPIPE and the like: the caller's side is gone
        close_source();
        break;
      }
      s.last = s.pending[static_cast<std::size_t>(w) - 1];
      s.pending.erase(0, static_cast<std::size_t>(w));
      moved = true;
      continue;
    }
    ssize_t n;
    if (s.splice) {
      n = ::splice(s.src.get(), nullptr, s.dst, nullptr, kChunk, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n < 0 && errno == EINVAL) {  // a terminal, an O_APPEND file: copy instead
        s.splice = false;
        continue;
      }
    } else {
      char buf[kChunk];
      n = ::read(s.src.get(), buf, sizeof buf);
      if (n > 0) {
        if (s.label.empty()) {
          s.pending.assign(buf, static_cast<std::size_t>(n));
        } else {
          s.pending.clear();
          for (char c : std::string_view(buf, static_cast<std::size_t>(n))) {
            if (s.line_start) s.pending += s.label;
            s.pending += c;
            s.line_start = c == '\n';
          }
        }
        s.bytes += static_cast<std::uint64_t>(n);
        continue;
      }
    }
    if (n > 0) {
      s.bytes += static_cast<std::uint64_t>(n);
      moved = true;
      continue;
    }
    if (n == 0) {  // every writer closed it
      close_source();
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // Nothing to read, or (splice) the caller's side takes no more.
      if (s.splice && !writable_now(s.dst)) block();
      break;
    }
    close_source();  // EPIPE: the caller's side is gone
    break;
  }
  if (moved && on_output_) on_output_();
  watch(s);
}

void OutputRelay::write_stderr_line(const std::string& line) {
  Stream* s = stderr_stream();
  if (!s || !s->src) {
    // Not relayed (closed, or the reader is gone): straight to fd 2 if it is the caller's and takes
    // it now; a stalled stderr must not stall the loop.
    if (is_callers(2) && writable_now(2)) [[maybe_unused]]
      auto n = ::write(2, line.data(), line.size());
    return;
  }
  char last = s->pending.empty() ? s->last : s->pending.back();
  if (last != '\n') s->pending += '\n';
  s->pending += line;
  // ctxrun's own line is not the command's output: it must not count as such (--idle).
  auto on_output = std::exchange(on_output_, nullptr);
  if (!s->blocked) pump(*s);
  on_output_ = std::move(on_output);
}

void OutputRelay::finish(std::initializer_list<int> wake_fds, const std::function<bool()>& give_up) noexcept {
  try {
    auto all = streams();
    auto* loop = loop_;
    for (auto* s : all) {
      if (loop) {
        if (s->src) loop->unwatch(s->src.get());
        loop->unwatch(s->dst);
      }
      // What is in the pipe now, and what is still pending, goes out: the caller's side is waited
      // for (as the command would have waited on its write), writers that are still there are not;
      // and the wait ends when `give_up` says so, asked each time one of `wake_fds` is readable
      // (the signalfd: a cancel, not a SIGCHLD; the context: its deadline).
      loop_ = nullptr;
      while (s->src) {
        s->blocked = false;
        pump(*s);
        if (!s->blocked) break;
        if (give_up()) break;
        std::vector<pollfd> fds{{s->dst, POLLOUT, 0}};
        for (int fd : wake_fds) fds.push_back({fd, POLLIN, 0});
        while (::poll(fds.data(), fds.size(), -1) < 0 && errno == EINTR) {}
      }
      s->src.reset();
    }
  } catch (...) {}
}

}  // namespace ctxrun
