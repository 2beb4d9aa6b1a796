// The `timeout` personality against GNU coreutils' timeout, case by case.
//
// Every differential case runs twice: through /usr/bin/timeout (coreutils 9.1, the reference) and
// through ctxrun, both started with argv[0] "timeout", so that GNU's messages, which begin with
// argv[0], read exactly as ours must. What is compared: the raw wait status (dying of a signal is
// part of the contract), stderr to the letter, and, where it matters, stdout and what the command
// reported. The locale is set per case (LC_ALL=C unless the case is about quoting in UTF-8).
//
// The last group tests the deliberate differences (gnu_timeout.h, ctxrun(1) COMPATIBILITY): the
// tree teardown reaches what GNU's process-group kill misses, and each difference is shown against
// GNU's own behaviour, so that the test fails if either side changes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <utility>

#include "harness.h"
#include "proc.h"

using namespace e2e;

namespace {

const std::string kGnu = "/usr/bin/timeout";

struct Impl {
  const char* name;
  std::string path;  // started with argv[0] "timeout"
};
const Impl kGnuImpl{"GNU timeout", kGnu};
const Impl kOurImpl{"ctxrun as timeout", kCtxrun};

using Vars = std::vector<std::pair<std::string, std::string>>;

// Sets environment variables of the test process (the harness passes its environment on) for one
// scope, then restores them.
class ScopedEnv {
 public:
  explicit ScopedEnv(const Vars& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

struct Case {
  std::vector<std::string> args;
  Vars env{{"LC_ALL", "C"}};
  std::vector<int> block;   // blocked when timeout starts
  std::vector<int> ignore;  // ignored when timeout starts
};

std::string show(const std::vector<std::string>& args) {
  std::string s = "timeout";
  for (const auto& a : args) s += " '" + a + "'";
  return s;
}

Spec spec_for(const Impl& impl, const Case& c) {
  return Spec{.args = c.args, .argv0 = impl.path, .name = "timeout", .block = c.block, .ignore = c.ignore};
}

Exit run_with(const Impl& impl, const Case& c) {
  ScopedEnv env(c.env);
  return run(spec_for(impl, c));
}

// Runs `c` through both; the wait status and stderr must be the same. Returns {GNU's, ours}.
std::pair<Exit, Exit> same(const Case& c) {
  Exit gnu = run_with(kGnuImpl, c);
  kill_survivors();
  Exit ours = run_with(kOurImpl, c);
  INFO(show(c.args));
  INFO("GNU:  " << gnu.describe());
  INFO("ours: " << ours.describe());
  CHECK(ours.status == gnu.status);
  CHECK(ours.err == gnu.err);
  return {gnu, ours};
}

// What one interactive run showed: its end, and the report lines after "ready".
struct Observed {
  Exit exit;
  std::vector<pid_t> pids;         // reported before "ready"
  std::vector<std::string> lines;  // reported after "ready", until EOF
  std::size_t survivors = 0;       // processes left running after timeout ended
};

using Drive = std::function<void(Process&, const std::vector<pid_t>&)>;

// The processes left running once a run is over. A process the command did not report (ctxrun's
// guardian, finishing a teardown after timeout died) is given up to 10 s to exit, on a pidfd.
std::size_t settled_survivors(const std::vector<pid_t>& reported) {
  for (const auto& p : survivors()) {
    if (std::find(reported.begin(), reported.end(), p.pid) != reported.end()) continue;
    ctxrun::unique_fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, p.pid, 0)));
    pollfd fd{pidfd.get(), POLLIN, 0};
    if (pidfd) ::poll(&fd, 1, 10000);
  }
  return survivors().size();
}

// Waits until `pid` sleeps. GNU timeout learns its child's pid only when fork() returns in the
// parent, and a signal that comes before that makes it _exit(128 + SIG) at once ("the child is not
// exec'd yet", in its cleanup()): on a loaded machine the child can exec and report ready first.
// Its only sleep after the fork is the sigsuspend() of its wait (ours: poll()), so a signal sent
// once it sleeps meets the state the test means. Bounded; a yield between reads, as the helper's
// wait for ctxrun's poll().
void await_asleep(pid_t pid) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    auto p = ctxrun::read_process(pid);
    if (!p || p->state == 'S') return;
    sched_yield();
  }
}

Observed observe(const Impl& impl, const Case& c, const Drive& drive) {
  Observed o;
  {
    ScopedEnv env(c.env);
    Process p(spec_for(impl, c));
    o.pids = p.await_ready();
    await_asleep(p.pid());
    drive(p, o.pids);
    o.exit = p.wait();
    // Survivors may hold the report pipe: read what is there, without waiting for EOF.
    for (std::string line; !(line = p.next_line(300ms)).empty();) o.lines.push_back(line);
  }
  o.survivors = settled_survivors(o.pids);
  kill_survivors();
  return o;
}

// The interactive form of same(): `drive` acts on each run once the command is ready.
std::pair<Observed, Observed> same_observed(const Case& c, const Drive& drive) {
  Observed gnu = observe(kGnuImpl, c, drive);
  Observed ours = observe(kOurImpl, c, drive);
  INFO(show(c.args));
  INFO("GNU:  " << gnu.exit.describe());
  INFO("ours: " << ours.exit.describe());
  CHECK(ours.exit.status == gnu.exit.status);
  CHECK(ours.exit.err == gnu.exit.err);
  return {gnu, ours};
}

Drive send(std::vector<int> sigs) {
  return [sigs](Process& p, const std::vector<pid_t>&) {
    for (int sig : sigs) p.signal(sig);
  };
}

// Runs `args` under bash with argv[0] "timeout" and stdout redirected (`redirect`, bash syntax).
Exit run_redirected(const Impl& impl, const std::vector<std::string>& args, const std::string& redirect) {
  std::vector<std::string> bash{"-c", "exec -a timeout \"$@\" " + redirect, "bash", impl.path};
  bash.insert(bash.end(), args.begin(), args.end());
  ScopedEnv env(Vars{{"LC_ALL", "C"}});
  return run(Spec{.args = bash, .argv0 = "/bin/bash"});
}

std::string first_lines(const std::string& text, int n) {
  std::size_t at = 0;
  for (int i = 0; i < n && at != std::string::npos; ++i) at = text.find('\n', at == 0 ? 0 : at + 1);
  return at == std::string::npos ? text : text.substr(0, at + 1);
}

const Vars kUtf8{{"LC_ALL", "C.UTF-8"}};

// Whether /usr/bin/timeout is the reference, coreutils 9.1. Elsewhere the differential cases are
// skipped, with a message: another version differs on purpose (newer ones take -f and -p).
bool reference_available() {
  static const bool available = [] {
    std::string file = temp_dir() + "/gnu-version";
    Exit version = run_redirected(kGnuImpl, {"--version"}, "> '" + file + "'");
    return version.exited(0) && slurp(file).starts_with("timeout (GNU coreutils) 9.1\n");
  }();
  if (!available) MESSAGE("SKIPPED: /usr/bin/timeout is not GNU coreutils 9.1, the reference of these cases");
  return available;
}

// No core files from the commands that die of SIGSEGV/SIGABRT on purpose (both timeouts disable
// their own dumps; the command's would otherwise set WCOREDUMP).
void no_core_dumps() {
  rlimit none{0, 0};
  REQUIRE(setrlimit(RLIMIT_CORE, &none) == 0);
}

}  // namespace

TEST_CASE("timeout: usage errors and option errors read as GNU's") {
  NoSurvivors guard;
  if (!reference_available()) return;
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"1"},
      {"-v"},
      {"-k", "1"},
      {"--foo", "1", "true"},
      {"-x", "1", "true"},
      {"-k"},
      {"-s"},
      {"--kill-after"},
      {"--signal"},
      {"--kill-after=", "1", "true"},
      {"--verbose=1", "1", "true"},
      {"--foreground=yes", "1", "true"},
      {"--preserve-status=no", "1", "true"},
      {"--help=x"},
      {"--version=1"},
      {"--v", "1", "true"},
      {"--ve", "1", "true"},
      {"-", "1", "true"},
      {"-1", "true"},
      {"-0", "true"},
      {"-vx", "1", "true"},
      {"--", "--", "1", "true"},
  };
  for (const auto& args : cases) same({.args = args});
}

TEST_CASE("timeout: options only before the first operand and -- ends them") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // After DURATION, "-v" is the command: not found.
  same({.args = {"1", "-v", "true"}});
  same({.args = {"1", "--help"}});
  same({.args = {"--", "1", kHelper, "exit", "4"}});
  same({.args = {"-v", "--", "0.05", "sleep", "10"}});
  same({.args = {"1", "--", "true"}});  // "--" is the command here
}

TEST_CASE("timeout: --help and --version exit 0 and print what GNU's print in structure") {
  NoSurvivors guard;
  if (!reference_available()) return;
  std::string dir = temp_dir();
  for (const std::string option : {"--help", "--he", "--h", "--version", "--vers"}) {
    CAPTURE(option);
    std::string gnu_file = dir + "/gnu-out", our_file = dir + "/our-out";
    Exit gnu = run_redirected(kGnuImpl, {option, "ignored", "args"}, "> '" + gnu_file + "'");
    Exit ours = run_redirected(kOurImpl, {option, "ignored", "args"}, "> '" + our_file + "'");
    CHECK_MESSAGE(gnu.exited(0), gnu.describe());
    CHECK_MESSAGE(ours.exited(0), ours.describe());
    CHECK(ours.err.empty());
    std::string gnu_out = slurp(gnu_file), our_out = slurp(our_file);
    if (option.starts_with("--h")) {
      // Same usage lines; same sections in the same order.
      CHECK(first_lines(our_out, 2) == first_lines(gnu_out, 2));
      CHECK(first_lines(our_out, 2) == "Usage: timeout [OPTION] DURATION COMMAND [ARG]...\n  or:  timeout [OPTION]\n");
      std::size_t at = 0;
      for (const std::string mark :
           {"Mandatory arguments", "--kill-after=DURATION", "--signal=SIGNAL", "--verbose", "--help", "--version",
            "DURATION is a floating point number", "EXIT status:", "124", "125", "126", "127", "137"}) {
        CAPTURE(mark);
        CHECK(gnu_out.find(mark) != std::string::npos);
        at = our_out.find(mark, at);
        CHECK(at != std::string::npos);
      }
    } else {
      CHECK(gnu_out.starts_with("timeout (GNU coreutils) 9.1\n"));
      CHECK(our_out.starts_with("timeout (ctxrun) "));
    }
  }
  // A failed write of the help is timeout's failure (GNU's close_stdout): 125 and one line.
  for (const std::string redirect : {"> /dev/full", ">&-"}) {
    CAPTURE(redirect);
    Exit gnu = run_redirected(kGnuImpl, {"--help"}, redirect);
    Exit ours = run_redirected(kOurImpl, {"--help"}, redirect);
    CHECK_MESSAGE(gnu.exited(125), gnu.describe());
    CHECK(ours.status == gnu.status);
    CHECK(ours.err == gnu.err);
  }
}

TEST_CASE("timeout: option forms and abbreviations take effect as GNU's do") {
  NoSurvivors guard;
  if (!reference_available()) return;
  const std::vector<std::vector<std::string>> cases = {
      {"-v", "-s", "KILL", "0.05", "sleep", "10"},
      {"-v", "-sKILL", "0.05", "sleep", "10"},
      {"-v", "--signal=KILL", "0.05", "sleep", "10"},
      {"-v", "--signal", "KILL", "0.05", "sleep", "10"},
      {"-v", "--sig=KILL", "0.05", "sleep", "10"},
      {"-v", "--s", "KILL", "0.05", "sleep", "10"},
      {"-vsKILL", "0.05", "sleep", "10"},
      {"--verb", "-s", "INT", "0.05", "sleep", "10"},
      {"--verbose", "0.05", "sleep", "10"},
      {"-s", "INT", "-s", "KILL", "-v", "0.05", "sleep", "10"},  // the last -s wins
      {"-vk0.1", "-s0", "0.05", "sleep", "10"},
      {"-v", "--kill-after=0.1", "-s", "EXIT", "0.05", "sleep", "10"},
      {"-v", "--kill=0.1", "-s", "EXIT", "0.05", "sleep", "10"},
      {"-v", "--k", "0.1", "-s", "0", "0.05", "sleep", "10"},
      {"-v", "-k", "5", "-k", "0", "-s", "0", "0.05", "sleep", "0.3"},  // the last -k wins: none
      {"--preserve-status", "0.05", "sleep", "10"},
      {"--pres", "0.05", "sleep", "10"},
      {"--p", "0.05", "sleep", "10"},
      {"--foreground", "-v", "-s", "KILL", "0.05", "sleep", "10"},
      {"--fore", "-v", "-s", "KILL", "0.05", "sleep", "10"},
      {"--f", "-v", "-s", "KILL", "0.05", "sleep", "10"},
  };
  for (const auto& args : cases) same({.args = args});
}

TEST_CASE("timeout: every DURATION form GNU accepts is accepted with the same meaning") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // No limit in practice (the command ends long before): 0 disables, huge values overflow to +inf.
  for (const std::string d : {"10",
                              "10s",
                              "10.",
                              ".5m",
                              "0.25h",
                              "1d",
                              "0d",
                              "0",
                              "0s",
                              "0.0",
                              "-0",
                              "+10",
                              " 10",
                              "\t10",
                              "1e3",
                              "1e3m",
                              "1E1",
                              "0x10",
                              "0x1p4",
                              "0X1P4s",
                              "inf",
                              "INF",
                              "infinity",
                              "infm",
                              "1e400",
                              "1e308d",
                              "9223372036854775807",
                              "18446744073709551616"}) {
    for (const auto& env : {Vars{{"LC_ALL", "C"}}, kUtf8}) {
      // "-0" would be an option: behind "--" it is a DURATION (and a valid one: -0 >= 0).
      same({.args = {"--", d, kHelper, "exit", "7"}, .env = env});
    }
  }
  // Tiny positive durations round up to 1 ns: the limit strikes at once.
  for (const std::string d : {"1e-10", "5e-324", "1e-320", "0.0000000001m", "1.5e-9"})
    same({.args = {"-v", d, "sleep", "10"}});
}

TEST_CASE("timeout: every DURATION form GNU rejects is rejected with the same message") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (const std::string d :
       {"",    " ",  ".",   "x",    "s",    "m",     "1x",   "1ss",      "1sm",  "1 ",   "1 s",
        "1s ", "1S", "1M",  "1,5",  "nan",  "NaN",   "-nan", "-1",       "-0.5", "-inf", "1e",
        "1e+", "0x", "1s1", "infx", "10ms", "1_000", "\xff", "\xc3\xa9", "it's", "a\\b", "\x01"}) {
    for (const auto& env : {Vars{{"LC_ALL", "C"}}, kUtf8}) {
      same({.args = {"--", d, "true"}, .env = env});
      same({.args = {"-k", d, "1", "true"}, .env = env});
      same({.args = {"--kill-after=" + d, "1", "true"}, .env = env});
    }
  }
}

TEST_CASE("timeout: every SIGNAL form is read as GNU reads it") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // Valid forms (0 and EXIT are signal 0; 128+N and 256+N are shells' statuses for N).
  for (const std::string s :
       {"TERM",        "term",       "Term",    "SIGTERM",  "sigterm", "SiGtErM", "15",       "015",      "143",
        "271",         "0",          "EXIT",    "exit",     "SIGEXIT", "SIG0",    "128",      "256",      "9",
        "137",         "KILL",       "HUP",     "INT",      "QUIT",    "ILL",     "TRAP",     "ABRT",     "IOT",
        "BUS",         "FPE",        "USR1",    "SEGV",     "USR2",    "PIPE",    "ALRM",     "STKFLT",   "CHLD",
        "CLD",         "CONT",       "STOP",    "TSTP",     "TTIN",    "TTOU",    "URG",      "XCPU",     "XFSZ",
        "VTALRM",      "PROF",       "WINCH",   "POLL",     "IO",      "PWR",     "SYS",      "SIG15",    "sig9",
        "SIG64",       "34",         "49",      "50",       "64",      "RTMIN",   "rtmin",    "SIGRTMIN", "RTMIN+1",
        "RTMIN1",      "RTMIN 1",    "RTMIN-0", "RTMIN+30", "RTMAX",   "RTMAX-1", "RTMAX-30", "RTMAX+0",  "SIGRTMAX-2",
        "sigrtmin+15", "RTMIN+00003"}) {
    same({.args = {"-s", s, "0", "true"}});
  }
  // Invalid ones, in both locales (the message quotes the value).
  for (const std::string s :
       {"",        "SIG",    "S",        "SI",     "FOO",        "SIGFOO",     "SIG+15",      " 15",     "15 ",
        "-15",     "+15",    "0x1f",     "1e1",    "32",         "33",         "65",          "100",     "127",
        "255",     "383",    "SIG65",    "SIG143", "2147483648", "4294967311", "99999999999", "RTMIN-1", "RTMIN+31",
        "RTMAX+1", "RTMAX1", "RTMAX-31", "RTMIN+", "RTMIN+ 1",   "RTMIN+1x",   "EMT",         "LOST",    "UNUSED",
        "INFO",    "TERM\\", "\xc3\xa9", "it's",   "\x01"}) {
    for (const auto& env : {Vars{{"LC_ALL", "C"}}, kUtf8}) same({.args = {"-s", s, "0", "true"}, .env = env});
  }
}

TEST_CASE("timeout: -v names each signal as GNU does and SIGCONT follows it") {
  NoSurvivors guard;
  if (!reference_available()) return;
  no_core_dumps();
  // Each is sent when SIGALRM says the time is up (the command is in place by then: a signal that
  // reached GNU's child before its exec would end it with 128+N). Those that do not end the
  // command (0, CHLD, CONT, URG, WINCH, TSTP, ...) are followed by KILL after -k.
  for (const std::string s : {"TERM",  "9",    "137",  "0",    "EXIT", "IOT",     "CLD", "SIGIO", "POLL", "CONT", "URG",
                              "WINCH", "TSTP", "TTIN", "TTOU", "USR1", "rtmin+1", "50",  "RTMAX", "34",   "64"})
    same_observed({.args = {"-v", "-k", "0.3", "-s", s, "60", kHelper, "hang", "3"}}, send({SIGALRM}));
  same_observed({.args = {"--foreground", "-v", "-k", "0.3", "-s", "STOP", "60", kHelper, "hang", "3"}},
                send({SIGALRM}));
}

TEST_CASE("timeout: -s STOP stops timeout itself as GNU's kill(0 SIGSTOP) does and SIGCONT follows once continued") {
  NoSurvivors guard;
  if (!reference_available()) return;
  auto continue_it = [](Process& p, const std::vector<pid_t>&) {
    p.signal(SIGALRM);
    siginfo_t info{};
    REQUIRE(waitid(P_PID, static_cast<id_t>(p.pid()), &info, WSTOPPED | WNOWAIT) == 0);
    CHECK(info.si_code == CLD_STOPPED);
    p.signal(SIGCONT);
  };
  auto [gnu, ours] = same_observed({.args = {"-v", "-k", "0.3", "-s", "STOP", "60", kHelper, "hang", "3"}},
                                   continue_it);
  CHECK(gnu.exit.killed_by(SIGKILL));
}

TEST_CASE("timeout: exit statuses: the command's own or 124 or 137 or the command's fatal signal") {
  NoSurvivors guard;
  if (!reference_available()) return;
  no_core_dumps();
  for (int n : {0, 1, 3, 123, 124, 125, 126, 127, 128, 137, 143, 255})
    same({.args = {"10", kHelper, "exit", std::to_string(n)}});
  // Dies of its own signal: timeout dies of the same one (no core), status and all.
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGPIPE, SIGSEGV, SIGABRT, SIGKILL, SIGALRM}) {
    auto gnu = same({.args = {"10", kHelper, "kill-self", std::to_string(sig)}}).first;
    CHECK_MESSAGE(gnu.killed_by(sig), gnu.describe());
  }
  // Timed out: 124; timed out with KILL: 137 (GNU dies of its own KILL without --foreground).
  auto [timed_out, unused] = same({.args = {"0.05", "sleep", "10"}});
  CHECK(timed_out.exited(124));
  auto [killed, unused2] = same({.args = {"-s", "KILL", "0.05", "sleep", "10"}});
  CHECK(killed.killed_by(SIGKILL));
  auto [killed_fg, unused3] = same({.args = {"--foreground", "-s", "KILL", "0.05", "sleep", "10"}});
  CHECK(killed_fg.exited(137));
  // A timed-out command that dies of another signal on the way: still 124.
  same({.args = {"-s", "SEGV", "0.05", "sleep", "10"}});
  same({.args = {"-s", "HUP", "--foreground", "0.05", "sleep", "10"}});
}

TEST_CASE("timeout: commands that are not found or cannot be run") {
  NoSurvivors guard;
  if (!reference_available()) return;
  std::string dir = temp_dir() + "/cmds";
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/a").c_str(), 0755);
  mkdir((dir + "/b").c_str(), 0755);
  std::ofstream(dir + "/plain") << "not a program\n";
  chmod((dir + "/plain").c_str(), 0644);
  std::ofstream(dir + "/noshebang") << "exit 5\n";  // no #!: run by /bin/sh, as execvp does
  chmod((dir + "/noshebang").c_str(), 0755);
  std::ofstream(dir + "/a/tool") << "#!/bin/sh\nexit 1\n";  // found first, but not executable
  chmod((dir + "/a/tool").c_str(), 0644);
  std::ofstream(dir + "/b/tool") << "#!/bin/sh\nexit 6\n";
  chmod((dir + "/b/tool").c_str(), 0755);
  std::ofstream(dir + "/a/only") << "#!/bin/sh\nexit 1\n";
  chmod((dir + "/a/only").c_str(), 0644);
  for (const auto& env : {Vars{{"LC_ALL", "C"}}, kUtf8}) {
    for (const std::string& command :
         {std::string("ctxrun-no-such-command"), dir + "/missing", dir, dir + "/plain", dir + "/plain/x",
          dir + "/noshebang", std::string(""), std::string("it's"), std::string("./no such"), std::string("\xff")})
      same({.args = {"10", command}, .env = env});
  }
  // Through PATH: a non-executable match is passed over for an executable one; alone, it is 126.
  Vars path{{"LC_ALL", "C"}, {"PATH", dir + "/a:" + dir + "/b:/usr/bin:/bin"}};
  auto [gnu_tool, ours_tool] = same({.args = {"10", "tool"}, .env = path});
  CHECK(gnu_tool.exited(6));
  auto [gnu_only, ours_only] = same({.args = {"10", "only"}, .env = path});
  CHECK(gnu_only.exited(126));
  same({.args = {"10", "not-there"}, .env = path});
}

TEST_CASE("timeout: --preserve-status") {
  NoSurvivors guard;
  if (!reference_available()) return;
  auto [term, unused] = same({.args = {"--preserve-status", "0.05", "sleep", "10"}});
  CHECK(term.exited(143));
  same({.args = {"--preserve-status", "-s", "KILL", "0.05", "sleep", "10"}});
  same({.args = {"--preserve-status", "--foreground", "-s", "KILL", "0.05", "sleep", "10"}});
  same({.args = {"--preserve-status", "10", kHelper, "exit", "5"}});
  // The command cleans up on TERM and exits 3: that is the status.
  auto [trap, unused2] = same_observed({.args = {"--preserve-status", "60", kHelper, "trap-exit", "15", "3", "3"}},
                                       send({SIGALRM}));
  CHECK(trap.exit.exited(3));
  // Killed after -k: 137 whatever --preserve-status says.
  for (bool fg : {false, true}) {
    std::vector<std::string> args{"--preserve-status", "-k", "0.2", "60", kHelper, "ignore-term", "3"};
    if (fg) args.insert(args.begin(), "--foreground");
    auto gnu = same_observed({.args = args}, send({SIGALRM})).first;
    CHECK_MESSAGE((fg ? gnu.exit.exited(137) : gnu.exit.killed_by(SIGKILL)), gnu.exit.describe());
  }
}

TEST_CASE("timeout: -k sends KILL after the first signal whether the timer or a received signal sent it") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (bool fg : {false, true}) {
    CAPTURE(fg);
    auto with = [fg](std::vector<std::string> args) {
      if (fg) args.insert(args.begin(), "--foreground");
      return Case{.args = std::move(args)};
    };
    // The timer (a real one: the command is ready long before).
    same_observed(with({"-v", "-k", "0.2", "2", kHelper, "ignore-term", "3"}), send({}));
    // A SIGALRM is the timer for GNU timeout too.
    same_observed(with({"-v", "-k", "0.2", "60", kHelper, "ignore-term", "3"}), send({SIGALRM}));
    // A received TERM is sent on and arms -k.
    auto [gnu, ours] = same_observed(with({"-v", "-k", "0.2", "60", kHelper, "ignore-term", "3"}), send({SIGTERM}));
    CHECK(gnu.exit.err.find("sending signal KILL") != std::string::npos);
    // Once -k is armed, the DURATION timer sends KILL at once, long before -k's own time.
    auto [early_gnu, early_ours] = same_observed(with({"-v", "-k", "50", "1", kHelper, "ignore-term", "3"}),
                                                 send({SIGTERM}));
    CHECK(early_ours.exit.took < 30s);
  }
  // -k 0: never KILL. Still running well after the TERM; INT ends it (GNU ignores TERM by now).
  auto still_running = [](Process& p, const std::vector<pid_t>&) {
    p.signal(SIGALRM);
    CHECK(p.still_running_after(500ms));
    p.signal(SIGINT);
  };
  same_observed({.args = {"-v", "-k", "0", "60", kHelper, "ignore-term", "3"}}, still_running);
}

TEST_CASE("timeout: --verbose quotes the command as GNU's quote() does in the C and UTF-8 locales") {
  NoSurvivors guard;
  if (!reference_available()) return;
  std::string dir = temp_dir() + "/names";
  mkdir(dir.c_str(), 0755);
  for (const std::string name : {"plain", "it's", "a\\b", "tab\there", "caf\xc3\xa9", "bad\xff", "q\xe2\x80\x99q",
                                 "\xe2\x80\x98", "nl\nx", "del\x7f"}) {
    std::string link = dir + "/" + name;
    symlink("/bin/sleep", link.c_str());
    for (const auto& env : {Vars{{"LC_ALL", "C"}}, kUtf8}) same({.args = {"-v", "0.05", link, "10"}, .env = env});
  }
}

TEST_CASE("timeout: --foreground signals the command alone and without SIGCONT as GNU does") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // The command's children are not timed out: they survive, with GNU as with ctxrun.
  auto [gnu, ours] = same_observed({.args = {"--foreground", "-v", "60", kHelper, "tree", "2", "3"}}, send({SIGALRM}));
  CHECK(gnu.survivors == 2);
  CHECK(ours.survivors == 2);
  // SIGCONT follows the signal without --foreground only.
  for (bool fg : {false, true}) {
    std::vector<std::string> args{"-v",    "-k",           "0.3",
                                  "-s",    "WINCH",        "60",
                                  kHelper, "count-signal", std::to_string(SIGCONT),
                                  "3"};
    if (fg) args.insert(args.begin(), "--foreground");
    auto [g, o] = same_observed({.args = args}, send({SIGALRM}));
    CHECK(g.lines.empty() == fg);
    CHECK(o.lines.empty() == fg);
  }
}

TEST_CASE("timeout: process groups: its own without --foreground and the caller's with it") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (bool fg : {false, true}) {
    std::string gnu_file = temp_dir() + "/pgrp-gnu", our_file = temp_dir() + "/pgrp-ours";
    std::vector<std::string> gnu_args{"10", kHelper, "pgrp", gnu_file}, our_args{"10", kHelper, "pgrp", our_file};
    if (fg) {
      gnu_args.insert(gnu_args.begin(), "--foreground");
      our_args.insert(our_args.begin(), "--foreground");
    }
    Exit gnu = run_with(kGnuImpl, {.args = gnu_args});
    Exit ours = run_with(kOurImpl, {.args = our_args});
    CHECK(gnu.exited(0));
    CHECK(ours.exited(0));
    CHECK(slurp(gnu_file) == (fg ? "parent's group\n" : "parent\n"));
    CHECK(slurp(our_file) == slurp(gnu_file));
  }
}

TEST_CASE("timeout: signals sent to timeout are passed on and it then dies of the command's signal") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (bool fg : {false, true}) {
    CAPTURE(fg);
    auto with = [fg](std::vector<std::string> args) {
      if (fg) args.insert(args.begin(), "--foreground");
      return Case{.args = std::move(args)};
    };
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
      auto gnu = same_observed(with({"-v", "60", kHelper, "hang", "3"}), send({sig})).first;
      CHECK_MESSAGE(gnu.exit.killed_by(sig), gnu.exit.describe());
    }
    // SIGALRM is the timer: 124.
    auto [alrm, unused] = same_observed(with({"-v", "60", kHelper, "hang", "3"}), send({SIGALRM}));
    CHECK(alrm.exit.exited(124));
    // The -s signal is taken too.
    same_observed(with({"-v", "-s", "USR2", "60", kHelper, "hang", "3"}), send({SIGUSR2}));
    // The command handles it and exits 3: timeout exits 3.
    auto [trap, unused2] = same_observed(with({"-v", "60", kHelper, "trap-exit", "2", "3", "3"}), send({SIGINT}));
    CHECK(trap.exit.exited(3));
  }
}

TEST_CASE("timeout: a repeated signal is sent again with --foreground and ignored without (GNU's SIG_IGN)") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (bool fg : {false, true}) {
    CAPTURE(fg);
    std::vector<std::string> args{"-v", "-k", "1", "60", kHelper, "count-signal", std::to_string(SIGTERM), "3"};
    if (fg) args.insert(args.begin(), "--foreground");
    auto twice = [](Process& p, const std::vector<pid_t>&) {
      p.signal(SIGTERM);
      CHECK(p.next_line() == "signal 15");
      p.signal(SIGTERM);
    };
    auto [gnu, ours] = same_observed({.args = args}, twice);
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = ours.exit.err.find("sending signal TERM", at)) != std::string::npos; ++at) ++lines;
    CHECK(lines == (fg ? 2u : 1u));
  }
}

TEST_CASE("timeout: signals blocked or ignored when timeout starts and what the command inherits") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // A signal blocked at start stays blocked in GNU timeout: INT does nothing; TERM ends it.
  auto blocked = [](Process& p, const std::vector<pid_t>&) {
    p.signal(SIGINT);
    CHECK(p.still_running_after(300ms));
    p.signal(SIGTERM);
  };
  same_observed({.args = {"-v", "60", kHelper, "hang", "3"}, .block = {SIGINT}}, blocked);
  // Ignored at start (nohup): GNU timeout takes it all the same.
  same_observed({.args = {"-v", "60", kHelper, "hang", "3"}, .ignore = {SIGHUP}}, send({SIGHUP}));
  // The command's signal mask and ignored signals: GNU's (the signals timeout takes come back to
  // SIG_DFL, TTIN and TTOU too; SIGCHLD is unblocked).
  std::vector<int> block{SIGUSR2, SIGALRM, SIGCHLD, SIGTERM, SIGINT, SIGWINCH};
  std::vector<int> ignore{SIGHUP, SIGINT, SIGPIPE, SIGUSR1, SIGTTIN, SIGTTOU, SIGCHLD, SIGALRM, SIGQUIT};
  for (const std::vector<std::string>& options :
       {std::vector<std::string>{}, {"--foreground"}, {"-s", "USR1"}, {"-s", "CHLD"}, {"-s", "TTIN"}}) {
    std::string gnu_file = temp_dir() + "/state-gnu", our_file = temp_dir() + "/state-ours";
    auto args_for = [&options](const std::string& file) {
      std::vector<std::string> args = options;
      args.insert(args.end(), {"10", kHelper, "state", file});
      return args;
    };
    Exit gnu = run_with(kGnuImpl, {.args = args_for(gnu_file), .block = block, .ignore = ignore});
    Exit ours = run_with(kOurImpl, {.args = args_for(our_file), .block = block, .ignore = ignore});
    CHECK_MESSAGE(gnu.exited(0), gnu.describe());
    CHECK_MESSAGE(ours.exited(0), ours.describe());
    std::string gnu_state = slurp(gnu_file), our_state = slurp(our_file);
    CAPTURE(gnu_state);
    // fds are listed in directory order: compare the signal lines only (the fds are 0-3 in both).
    CHECK(our_state.substr(0, our_state.find("fds:")) == gnu_state.substr(0, gnu_state.find("fds:")));
  }
}

TEST_CASE("timeout: the command's output goes through untouched") {
  NoSurvivors guard;
  if (!reference_available()) return;
  std::string gnu_file = temp_dir() + "/out-gnu", our_file = temp_dir() + "/out-ours";
  std::vector<std::string> args{"10", kHelper, "env", "LC_ALL"};
  Exit gnu = run_redirected(kGnuImpl, args, "> '" + gnu_file + "'");
  Exit ours = run_redirected(kOurImpl, args, "> '" + our_file + "'");
  CHECK(gnu.status == ours.status);
  CHECK(slurp(gnu_file) == "C\n");
  CHECK(slurp(our_file) == slurp(gnu_file));
}

// ---------------------------------------------------------------------------------------------
// The deliberate differences, each next to GNU's behaviour.

TEST_CASE(
    "timeout difference: an escaped (setsid and double-forked) grandchild is torn down but survives GNU timeout") {
  NoSurvivors guard;
  if (!reference_available()) return;
  auto [gnu, ours] = same_observed({.args = {"-v", "60", kHelper, "daemon", "3", "hang"}}, send({SIGALRM}));
  CHECK(gnu.exit.exited(124));
  CHECK(gnu.survivors == 1);  // the negative control: GNU's kill(0, TERM) misses it
  CHECK(ours.survivors == 0);
  // With a real timer too.
  auto [gnu_t, ours_t] = same_observed({.args = {"2", kHelper, "daemon", "3", "hang"}}, send({}));
  CHECK(gnu_t.survivors == 1);
  CHECK(ours_t.survivors == 0);
}

TEST_CASE("timeout difference: with -k what ignores TERM below the command is killed too") {
  NoSurvivors guard;
  if (!reference_available()) return;
  // GNU ends when the command ends; its KILL timer dies with it, and the grandchild lives on.
  auto [gnu, ours] = same_observed({.args = {"-v", "-k", "0.5", "60", kHelper, "term-ignoring-child", "3"}},
                                   send({SIGALRM}));
  CHECK(gnu.exit.exited(124));
  CHECK(gnu.survivors == 1);
  CHECK(ours.survivors == 0);
  CHECK(ours.exit.took >= 500ms);
  // Without -k, neither sends KILL: the grandchild survives both, as with GNU.
  auto [gnu_no_k, ours_no_k] = same_observed({.args = {"-v", "60", kHelper, "term-ignoring-child", "3"}},
                                             send({SIGALRM}));
  CHECK(gnu_no_k.survivors == 1);
  CHECK(ours_no_k.survivors == 1);
}

TEST_CASE("timeout difference: a signal timeout does not take (USR1) kills it and ctxrun's command dies with it") {
  NoSurvivors guard;
  if (!reference_available()) return;
  auto [gnu, ours] = same_observed({.args = {"60", kHelper, "hang", "3"}}, send({SIGUSR1}));
  CHECK(gnu.exit.killed_by(SIGUSR1));
  CHECK(gnu.survivors == 1);   // GNU's command runs on, orphaned
  CHECK(ours.survivors == 0);  // the command's parent-death signal (SIGKILL)
}

TEST_CASE("timeout difference: DURATION underflow (1e-400) is a tiny limit and not none (newer coreutils)") {
  NoSurvivors guard;
  if (!reference_available()) return;
  for (const std::string d : {"1e-400", "0x1p-2000", "1e-400d"}) {
    Exit gnu = run_with(kGnuImpl, {.args = {d, "sleep", "0.2"}});
    Exit ours = run_with(kOurImpl, {.args = {d, "sleep", "0.2"}});
    CHECK_MESSAGE(gnu.exited(0), gnu.describe());  // 9.1: no limit at all
    CHECK_MESSAGE(ours.exited(124), ours.describe());
  }
}

TEST_CASE("timeout difference: -f and -p (short options of newer coreutils and POSIX.1-2024) are accepted") {
  NoSurvivors guard;
  if (!reference_available()) return;
  Exit gnu_p = run_with(kGnuImpl, {.args = {"-p", "1", "true"}});
  CHECK(gnu_p.exited(125));  // 9.1: invalid option -- 'p'
  CHECK(gnu_p.err.find("invalid option -- 'p'") != std::string::npos);
  // Ours' -p and -f behave as GNU's long forms.
  auto compare = [](const std::vector<std::string>& gnu_args, const std::vector<std::string>& our_args) {
    Exit gnu = run_with(kGnuImpl, {.args = gnu_args});
    Exit ours = run_with(kOurImpl, {.args = our_args});
    CHECK_MESSAGE(ours.status == gnu.status, gnu.describe() << " / " << ours.describe());
    CHECK(ours.err == gnu.err);
  };
  compare({"--preserve-status", "0.05", "sleep", "10"}, {"-p", "0.05", "sleep", "10"});
  compare({"--foreground", "-v", "-s", "KILL", "0.05", "sleep", "10"},
          {"-f", "-v", "-s", "KILL", "0.05", "sleep", "10"});
  compare({"--foreground", "--preserve-status", "-v", "0.05", "sleep", "10"}, {"-fpv", "0.05", "sleep", "10"});
}

TEST_CASE("timeout: the build's `timeout` symlink and the names that select the personality") {
  NoSurvivors guard;
  std::string dir = kCtxrun.substr(0, kCtxrun.rfind('/'));
  char target[256] = {};
  REQUIRE(readlink((dir + "/timeout").c_str(), target, sizeof target - 1) > 0);
  CHECK(std::string(target) == kCtxrun.substr(kCtxrun.rfind('/') + 1));
  Exit by_link = run(Spec{.args = {"-x"}, .argv0 = dir + "/timeout"});
  CHECK(by_link.exited(125));
  CHECK(by_link.err ==
        dir + "/timeout: invalid option -- 'x'\nTry '" + dir + "/timeout --help' for more information.\n");
  Exit installed_name = run(Spec{.args = {"0.05", "sleep", "10"}, .name = "/usr/local/bin/ctxrun-timeout"});
  CHECK(installed_name.exited(124));
  // Any other name is ctxrun itself.
  Exit other = run(Spec{.args = {"--version"}, .name = "xtimeout", .capture_stdout = true});
  CHECK(other.exited(0));
  CHECK(other.err.empty());
}
