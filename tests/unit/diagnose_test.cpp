// diagnose.h: the tree printout, the hook and the dump signal, with real processes.
//
// The children are forks of this test binary (or /bin/sh for hooks). Tests synchronise on pipes and
// on waitpid/waitid, never on a sleep; the one state that cannot be awaited that way (a process
// asleep in the kernel, 'S') is awaited by re-reading /proc, with a generous bound.
#include "diagnose.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "ctxrun/unique_fd.h"
#include "proc.h"

using namespace std::chrono_literals;
using ctxrun::describe_processes;
using ctxrun::format_tree_line;
using ctxrun::HookResult;
using ctxrun::run_hook;
using ctxrun::send_dump_signal;
using ctxrun::TreeLine;
using ctxrun::unique_fd;

namespace {

struct Pipe {
  unique_fd read;
  unique_fd write;
  Pipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
  // Everything until EOF, or until `limit` passes without EOF (then what came so far).
  std::string rest(std::chrono::milliseconds limit = 10s) {
    write.reset();
    std::string out;
    auto end = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{read.get(), POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out;
      char buf[256];
      ssize_t n = ::read(read.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Reads exactly n bytes (fewer at EOF).
  std::string take(std::size_t n) {
    std::string out;
    char c;
    while (out.size() < n) {
      ssize_t r = ::read(read.get(), &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      out += c;
    }
    return out;
  }
};

const TreeLine* find_line(const std::vector<TreeLine>& lines, pid_t pid) {
  auto it = std::find_if(lines.begin(), lines.end(), [pid](const TreeLine& l) { return l.pid == pid; });
  return it == lines.end() ? nullptr : &*it;
}

// Gone, or a zombie that only its new parent has to reap.
bool dead(pid_t pid) {
  auto p = ctxrun::read_process(pid);
  return !p || p->state == 'Z' || p->state == 'X';
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
}

// Signal handlers of the dump-signal children: each writes its letter to the report pipe.
volatile char g_letter = '?';
int g_report_fd = -1;
extern "C" void write_letter(int sig) {
  char c = sig == SIGUSR1 ? g_letter : static_cast<char>(g_letter + ('a' - 'A'));
  [[maybe_unused]] auto n = ::write(g_report_fd, &c, 1);
}

}  // namespace

TEST_CASE("describe_processes: a stopped child, a sleeping one, a zombie, in tree order") {
  if (!ctxrun::proc_is_ours()) {
    MESSAGE("skipped: " << ctxrun::proc_problem());
    return;
  }
  // Stopped: it stops itself, and waitpid(WUNTRACED) says when it has.
  pid_t stopped = fork();
  REQUIRE(stopped >= 0);
  if (stopped == 0) {
    raise(SIGSTOP);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(stopped, &status, WUNTRACED) == stopped);
  REQUIRE(WIFSTOPPED(status));

  // Sleeping: `sleep 60`, exec'd (the report pipe closes on exec).
  Pipe exec_done;
  pid_t sleeper = fork();
  REQUIRE(sleeper >= 0);
  if (sleeper == 0) {
    execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  CHECK(exec_done.rest() == "");
  bool asleep = false;
  for (auto end = std::chrono::steady_clock::now() + 10s; !asleep && std::chrono::steady_clock::now() < end;) {
    auto p = ctxrun::read_process(sleeper);
    asleep = p && p->state == 'S' && p->name == "sleep";
    if (!asleep) sched_yield();
  }
  CHECK(asleep);

  // A zombie: waitid(WNOWAIT) returns once it has exited, and leaves it unreaped.
  pid_t zombie = fork();
  REQUIRE(zombie >= 0);
  if (zombie == 0) _exit(0);
  siginfo_t info{};
  REQUIRE(waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT) == 0);

  // A pid with no process any more.
  pid_t vanished = fork();
  REQUIRE(vanished >= 0);
  if (vanished == 0) _exit(0);
  REQUIRE(waitpid(vanished, nullptr, 0) == vanished);

  pid_t self = getpid();
  auto lines = describe_processes({zombie, sleeper, vanished, stopped, self, sleeper});
  REQUIRE(lines.size() == 4);
  // Tree order: this process (the root: its parent is not listed), then its children by pid.
  std::vector<pid_t> kids{stopped, sleeper, zombie};
  std::sort(kids.begin(), kids.end());
  CHECK(lines[0].pid == self);
  CHECK(lines[1].pid == kids[0]);
  CHECK(lines[2].pid == kids[1]);
  CHECK(lines[3].pid == kids[2]);
  CHECK(find_line(lines, vanished) == nullptr);

  const TreeLine* t = find_line(lines, stopped);
  REQUIRE(t);
  CHECK(t->state == 'T');
  CHECK(t->ppid == self);

  const TreeLine* s = find_line(lines, sleeper);
  REQUIRE(s);
  CHECK(s->state == 'S');
  CHECK(s->command == "sleep 60");
  CHECK(!s->wchan.empty());
  CHECK(s->age_seconds >= 0.0);
  CHECK(s->age_seconds < 30.0);
  const TreeLine* me = find_line(lines, self);
  REQUIRE(me);
  CHECK(me->age_seconds >= s->age_seconds);

  const TreeLine* z = find_line(lines, zombie);
  REQUIRE(z);
  CHECK(z->state == 'Z');
  CHECK(z->command.front() == '[');
  CHECK(z->command.back() == ']');

  // The printout of a real line: pid, ppid, state, in that order.
  std::string printed = format_tree_line(*s);
  CHECK(printed.rfind("  " + std::to_string(sleeper) + " " + std::to_string(self) + " S ", 0) == 0);
  CHECK(printed.find(" sleep 60") == printed.size() - 9);

  kill_and_reap(stopped);
  kill_and_reap(sleeper);
  kill_and_reap(zombie);
}

TEST_CASE("describe_processes: nothing listed, nothing described") { CHECK(describe_processes({}).empty()); }

TEST_CASE("format_tree_line: the layout, the age, escapes keep one line") {
  TreeLine line{
      .pid = 1234, .ppid = 1200, .state = 'S', .wchan = "do_wait", .age_seconds = 2.34, .command = "sh -c sleep 60"};
  CHECK(format_tree_line(line) == "  1234 1200 S do_wait 2.3s sh -c sleep 60");
  line.age_seconds = 252.7;
  CHECK(format_tree_line(line) == "  1234 1200 S do_wait 4m12s sh -c sleep 60");
  line.age_seconds = 3723.0;
  CHECK(format_tree_line(line) == "  1234 1200 S do_wait 1h2m3s sh -c sleep 60");
  line.age_seconds = 59.97;  // would print as "60.0s"
  CHECK(format_tree_line(line) == "  1234 1200 S do_wait 0m59s sh -c sleep 60");
  line.age_seconds = 0.0;
  line.wchan = "";
  line.command = std::string("printf 'a\nb\tc\x01") + "\x7f'";
  std::string out = format_tree_line(line);
  CHECK(out == "  1234 1200 S - 0.0s printf 'a\\nb\\tc\\x01\\x7f'");
  CHECK(out.find('\n') == std::string::npos);
}

TEST_CASE("run_hook: exit status, output on the fd given, the extra environment") {
  Pipe out;
  setenv("CTXRUN_DIAGNOSE_TEST_OLD", "old", 1);
  auto r = run_hook("echo out:$CTXRUN_PIDS; echo err:$CTXRUN_DIAGNOSE_TEST_OLD >&2; exit 3",
                    {"CTXRUN_PIDS=12 34", "CTXRUN_DIAGNOSE_TEST_OLD=new"}, 10s, out.write.get());
  unsetenv("CTXRUN_DIAGNOSE_TEST_OLD");
  REQUIRE(std::holds_alternative<HookResult>(r));
  auto& hook = std::get<HookResult>(r);
  REQUIRE(hook.status);
  CHECK(WIFEXITED(*hook.status));
  CHECK(WEXITSTATUS(*hook.status) == 3);
  CHECK_FALSE(hook.timed_out);
  CHECK(hook.seconds >= 0.0);
  CHECK(hook.seconds < 10.0);
  CHECK(out.rest() == "out:12 34\nerr:new\n");
}

TEST_CASE("run_hook: the rest of the environment, and stdin is /dev/null") {
  Pipe out;
  setenv("CTXRUN_DIAGNOSE_TEST_KEPT", "kept", 1);
  auto r = run_hook("echo $CTXRUN_DIAGNOSE_TEST_KEPT; cat; echo end", {}, 10s, out.write.get());
  unsetenv("CTXRUN_DIAGNOSE_TEST_KEPT");
  REQUIRE(std::holds_alternative<HookResult>(r));
  CHECK(out.rest() == "kept\nend\n");
}

TEST_CASE("run_hook: a hanging hook is killed at the limit with its whole process group") {
  if (!ctxrun::proc_is_ours()) {
    MESSAGE("skipped: " << ctxrun::proc_problem());
    return;
  }
  Pipe out;
  auto r = run_hook("sleep 60 & echo $! $$; sleep 60", {}, 300ms, out.write.get());
  REQUIRE(std::holds_alternative<HookResult>(r));
  auto& hook = std::get<HookResult>(r);
  CHECK(hook.timed_out);
  REQUIRE(hook.status);
  CHECK(WIFSIGNALED(*hook.status));
  CHECK(WTERMSIG(*hook.status) == SIGKILL);
  CHECK(hook.seconds >= 0.25);
  CHECK(hook.seconds < 5.0);
  // EOF: every process that held the pipe (the shell and both sleeps) has exited.
  auto text = out.rest();
  char* end = nullptr;
  auto background = static_cast<pid_t>(std::strtol(text.c_str(), &end, 10));
  auto shell = static_cast<pid_t>(std::strtol(end, nullptr, 10));
  REQUIRE(background > 0);
  REQUIRE(shell > 0);
  CHECK(dead(background));
  CHECK(dead(shell));
  CHECK(::kill(shell, 0) != 0);  // the hook itself was reaped
}

TEST_CASE("run_hook: reaps its own child only") {
  pid_t other = fork();
  REQUIRE(other >= 0);
  if (other == 0) _exit(7);
  // The other child ends while the hook runs, or before: either way it must still be waitable.
  siginfo_t info{};
  REQUIRE(waitid(P_PID, static_cast<id_t>(other), &info, WEXITED | WNOWAIT) == 0);
  auto r = run_hook("exit 0", {}, 10s, -1);
  REQUIRE(std::holds_alternative<HookResult>(r));
  int status = 0;
  REQUIRE(waitpid(other, &status, 0) == other);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

TEST_CASE("run_hook: a bad shell command still ends as a result") {
  Pipe out;
  auto r = run_hook("if then fi (", {}, 10s, out.write.get());
  REQUIRE(std::holds_alternative<HookResult>(r));
  auto& hook = std::get<HookResult>(r);
  REQUIRE(hook.status);
  CHECK(WIFEXITED(*hook.status));
  CHECK(WEXITSTATUS(*hook.status) != 0);
  CHECK(!out.rest().empty());  // sh's complaint, on the fd given

  auto missing = run_hook("ctxrun-no-such-command-here", {}, 10s, -1);
  REQUIRE(std::holds_alternative<HookResult>(missing));
  REQUIRE(std::get<HookResult>(missing).status);
  CHECK(WEXITSTATUS(*std::get<HookResult>(missing).status) == 127);
}

TEST_CASE("run_hook: starts with an empty signal mask and in a process group of its own") {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &term, &old) == 0);
  Pipe out;
  auto r = run_hook("ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 /proc/$$/stat; echo $$; kill -TERM $$; exit 0", {},
                    10s, out.write.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(std::holds_alternative<HookResult>(r));
  auto& hook = std::get<HookResult>(r);
  REQUIRE(hook.status);
  CHECK(WIFSIGNALED(*hook.status));
  CHECK(WTERMSIG(*hook.status) == SIGTERM);
  auto text = out.rest();
  char* end = nullptr;
  long pgid = std::strtol(text.c_str(), &end, 10);
  long pid = std::strtol(end, nullptr, 10);
  CHECK(pgid == pid);
  CHECK(pgid != static_cast<long>(getpgrp()));
}

TEST_CASE("send_dump_signal: reaches the main command only; the wait is bounded") {
  Pipe report;
  Pipe private_ready;  // the grandchild tells the main command it is ready
  pid_t main_pid = fork();
  REQUIRE(main_pid >= 0);
  if (main_pid == 0) {
    g_report_fd = report.write.get();
    g_letter = 'M';
    signal(SIGUSR1, write_letter);
    signal(SIGUSR2, write_letter);
    pid_t grandchild = fork();
    if (grandchild == 0) {
      g_letter = 'G';
      [[maybe_unused]] auto n = ::write(private_ready.write.get(), "r", 1);
      while (true) pause();
    }
    char c;
    if (grandchild < 0 || ::read(private_ready.read.get(), &c, 1) != 1) _exit(1);
    // Its grandchild's pid, ready: both have their handlers.
    [[maybe_unused]] auto n = ::write(g_report_fd, &grandchild, sizeof grandchild);
    while (true) pause();
  }
  pid_t grandchild = 0;
  std::string got = report.take(sizeof grandchild);
  REQUIRE(got.size() == sizeof grandchild);
  std::copy(got.begin(), got.end(), reinterpret_cast<char*>(&grandchild));
  REQUIRE(grandchild > 0);

  auto dump = send_dump_signal(main_pid, -1, SIGUSR1, 300ms);
  CHECK_FALSE(dump.main_exited);
  CHECK(dump.waited_seconds >= 0.25);
  CHECK(dump.waited_seconds < 5.0);
  CHECK(report.take(1) == "M");
  // A marker to the grandchild: had the dump signal reached it, its 'G' would come first.
  REQUIRE(::kill(grandchild, SIGUSR2) == 0);
  CHECK(report.take(1) == "g");

  ::kill(grandchild, SIGKILL);
  kill_and_reap(main_pid);
}

TEST_CASE("send_dump_signal: a main command that dies of it has exited, and is left unreaped") {
  for (bool own_pidfd : {false, true}) {
    CAPTURE(own_pidfd);
    pid_t main_pid = fork();
    REQUIRE(main_pid >= 0);
    if (main_pid == 0) {
      signal(SIGTERM, SIG_DFL);  // not doctest's crash handler, inherited
      while (true) pause();
    }
    unique_fd pidfd(own_pidfd ? ctxrun::open_pidfd(main_pid) : -1);
    auto dump = send_dump_signal(main_pid, pidfd.get(), SIGTERM, 10s);
    CHECK(dump.main_exited);
    CHECK(dump.waited_seconds < 5.0);
    int status = 0;
    REQUIRE(waitpid(main_pid, &status, WNOHANG) == main_pid);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGTERM);
  }
}
