// OutputRelay: the command's stdout and stderr pass through ctxrun, so that ctxrun can tell when
// output last came (--idle, --heartbeat). Made only when an option needs it; otherwise the command
// writes to the caller's descriptors directly.
//
// Byte-exact: every byte, in order, no added buffering beyond one chunk in flight. When ctxrun's
// fds 1 and 2 are the same open file (`cmd >log 2>&1`, a terminal), one pipe carries both, so their
// interleaving is kept exactly; otherwise one pipe per stream. Every process of the tree inherits
// the pipes, so any of them writing counts, also after the command itself exited.
//
// Back-pressure: when the caller's side does not take more (a full pipe), the relay stops reading
// and says so (on_blocked), so that a slow reader is never taken for a silent command; the command
// then blocks on its own write, as without ctxrun. When the caller's side is gone (EPIPE), the
// relay closes its end of that pipe: the command's next write fails with EPIPE / SIGPIPE, as it
// would have without ctxrun.
//
// Moves data with splice(2) (no copy through ctxrun) where the kernel can; with read/write where it
// cannot (a terminal, a file opened with O_APPEND) or where the last byte of each stream must be
// known (track_lines: a line ctxrun adds, the heartbeat, must start at the beginning of a line).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "ctxrun/result.h"
#include "ctxrun/unique_fd.h"
#include "event_loop.h"

namespace ctxrun {

class OutputRelay {
 public:
  // Makes the pipes for those of ctxrun's fds 1 and 2 that are open; with `relay_main` false, none
  // for the command itself (only labelled streams will be added: the command writes directly).
  static Result<std::unique_ptr<OutputRelay>> make(bool track_lines, bool relay_main = true);
  ~OutputRelay();
  OutputRelay(const OutputRelay&) = delete;
  OutputRelay& operator=(const OutputRelay&) = delete;

  // What the command gets as fd 1 and fd 2 (the pipes' write ends); -1 for a stream not relayed
  // (ctxrun's own fd was closed: the command's is too).
  int child_stdout() const noexcept;
  int child_stderr() const noexcept;
  // Once the command is spawned: ctxrun's copies of the write ends go, so that the pipes reach EOF
  // when the tree has closed them.
  void close_child_ends() noexcept;

  // A service's output, each line prefixed with `label` (--label: "[NAME] "), to the same fds 1 and 2
  // (one pipe when they are the same open file). Returns the write ends for the service's stdout and
  // stderr (-1: that fd of ctxrun is closed): the caller closes them once the service is spawned.
  struct Labelled {
    unique_fd out, err;  // err is empty when merged: out then serves both
  };
  Result<Labelled> add_labelled(const std::string& label);

  // Relays through `loop`: `on_output` after bytes went out, `on_blocked(true)` when the caller's
  // side stops taking them, `on_blocked(false)` when it takes them again.
  void attach(EventLoop& loop, std::function<void()> on_output, std::function<void(bool)> on_blocked);
  // At the end: relays what is in the pipes now, waiting for the caller's side to take it (not for
  // writers that are still there) unless `give_up()` says to stop, which is asked before each wait
  // and whenever one of `wake_fds` is readable; then closes them.
  void finish(std::initializer_list<int> wake_fds, const std::function<bool()>& give_up) noexcept;

  // Writes `line` (with its newline) on the stderr stream, after a newline of its own when the last
  // byte relayed there did not end a line. In order with the relayed bytes.
  void write_stderr_line(const std::string& line);

  bool merged() const noexcept { return merged_; }
  std::uint64_t stdout_bytes() const noexcept;
  std::uint64_t stderr_bytes() const noexcept;

 private:
  struct Stream;
  OutputRelay() = default;
  void pump(Stream& s);
  void watch(Stream& s);
  Stream* stderr_stream() noexcept;
  std::vector<Stream*> streams() const;
  std::uint64_t bytes_to(int origin) const noexcept;

  std::unique_ptr<Stream> out_, err_;  // err_ is empty when merged (out_ carries both)
  std::vector<std::unique_ptr<Stream>> labelled_;
  bool merged_ = false;
  bool track_lines_ = false;
  EventLoop* loop_ = nullptr;
  std::function<void()> on_output_;
  std::function<void(bool)> on_blocked_;
};

}  // namespace ctxrun
