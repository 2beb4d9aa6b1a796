// ctxrun in a real terminal (tmux): the command keeps the terminal, and Ctrl-C reaches it once.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "harness.h"

using namespace e2e;

namespace {

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

// A private tmux server for one test; killed (with everything in it) at the end.
class Tmux {
 public:
  Tmux() : socket_("ctxrun-e2e-" + std::to_string(getpid()) + "-" + std::to_string(instances_++)) {}
  // kill-server returns before the server and the pane's processes have exited: wait for them (on
  // pidfds), or the test's NoSurvivors takes the dying for survivors (seen under ASan, whose
  // processes take longer to go).
  ~Tmux() {
    tmux("kill-server");
    await_no_survivors(10s);
  }

  // Whether tmux is here; if not, says so once per test ("SKIPPED: ...").
  static bool available() {
    if (std::system("command -v tmux >/dev/null 2>&1") == 0) return true;
    MESSAGE("SKIPPED: tmux is not installed; the terminal tests need it");
    return false;
  }

  // Runs tmux with `args` (a shell fragment); returns its stdout.
  std::string tmux(const std::string& args) {
    std::string command = "tmux -L " + socket_ + " " + args + " 2>/dev/null";
    std::string out;
    if (FILE* p = popen(command.c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  // Starts `command` as the only pane.
  void start(const std::string& command) { tmux("-f /dev/null new-session -d -x 120 -y 30 " + shell_quote(command)); }

  void keys(const std::string& keys) { tmux("send-keys " + keys); }

 private:
  static inline int instances_ = 0;
  std::string socket_;
};

// The report FIFO of a helper running inside tmux.
class Fifo {
 public:
  Fifo() : path_(temp_dir() + "/fifo-" + std::to_string(counter_++)) {
    REQUIRE(mkfifo(path_.c_str(), 0600) == 0);
    fd_.reset(open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(fd_);
  }
  const std::string& path() const { return path_; }

  // Next line, "" after `limit` or at EOF (every writer gone).
  std::string line(std::chrono::milliseconds limit = 20s) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (true) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char tmp[256];
      ssize_t n = ::read(fd_.get(), tmp, sizeof tmp);
      if (n > 0) buf_.append(tmp, static_cast<std::size_t>(n));
      else if (n == 0 && had_writer_) return "";
      had_writer_ = true;
    }
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
  ctxrun::unique_fd fd_;
  std::string buf_;
  bool had_writer_ = false;
};

}  // namespace

// The pane runs `sh -c 'exec helper wait-status 3 ctxrun ... 3>FIFO'`: sh opens the report FIFO
// and becomes the helper, which runs ctxrun in the terminal's foreground group, as a shell at a
// prompt would, and reports how ctxrun ended ("exited N", "killed N") on the FIFO.
std::string in_pane(const std::string& ctxrun_args, const Fifo& fifo) {
  return "exec " + kHelper + " wait-status 3 " + kCtxrun + " " + ctxrun_args + " 3>" + fifo.path();
}

TEST_CASE("Ctrl-C in a real terminal reaches an interactive command exactly once") {
  if (!Tmux::available()) return;
  NoSurvivors guard;
  Tmux tmux;
  Fifo fifo;
  tmux.start(in_pane("-k 1s -t 60s " + kHelper + " count-signal 2 3", fifo));
  REQUIRE(fifo.line().rfind("pid ", 0) == 0);
  REQUIRE(fifo.line() == "ready");
  tmux.keys("C-c");
  CHECK(fifo.line() == "signal 2");
  // ctxrun was cancelled by the same Ctrl-C; the helper ignores SIGINT (it counts it), so it is
  // killed after the 1 s grace. It must not have been sent SIGINT a second time by ctxrun.
  CHECK(fifo.line() == "killed 2");
}

TEST_CASE("the command reads the terminal as if ctxrun were not there") {
  if (!Tmux::available()) return;
  NoSurvivors guard;
  Tmux tmux;
  Fifo fifo;
  std::string file = temp_dir() + "/line";
  tmux.start(in_pane("-t 60s " + kHelper + " read-line " + file + " 3", fifo));
  REQUIRE(fifo.line().rfind("pid ", 0) == 0);
  REQUIRE(fifo.line() == "ready");
  tmux.keys("hello Enter");
  CHECK(fifo.line() == "exited 0");
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  CHECK(line == "hello");
}

TEST_CASE("negative control: with --tree=pgroup the command is in a background group and cannot read") {
  if (!Tmux::available()) return;
  NoSurvivors guard;
  Tmux tmux;
  Fifo fifo;
  std::string file = temp_dir() + "/line-pgroup";
  tmux.start(in_pane("--tree=pgroup -t 1s " + kHelper + " read-line " + file + " 3", fifo));
  REQUIRE(fifo.line().rfind("pid ", 0) == 0);
  REQUIRE(fifo.line() == "ready");
  tmux.keys("hello Enter");
  // A background group cannot read the terminal: SIGTTIN stops it, or (as in a tmux pane, where
  // SIGTTIN cannot stop it) the read fails with EIO. Either way "hello" never reaches it.
  auto result = fifo.line();
  CHECK((result == "exited 124" || result == "exited 0"));
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  CHECK(line != "hello");
}
