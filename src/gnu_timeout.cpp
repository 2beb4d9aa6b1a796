#include "gnu_timeout.h"

#include "gnu_parse.h"

#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio_ext.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cfloat>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <limits>
#include <memory>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "ctxrun/version.h"
#include "guardian.h"
#include "kill_phase.h"
#include "process_tree.h"
#include "reaper.h"
#include "runner.h"
#include "signal_regime.h"
#include "spawn.h"
#include "timer.h"

extern char** environ;

namespace ctxrun::gnu {
namespace {

// ---------------------------------------------------------------------------------------------
// Messages. GNU's program_name is argv[0] as given: "/usr/bin/timeout: ..." when run by path.

std::string g_program = "timeout";

// GNU's error(0, errnum, ...): stdout flushed first (unless closed already), one line on stderr.
void complain(const std::string& message, int errnum = 0, bool flush_stdout = true) {
  if (flush_stdout) std::fflush(stdout);
  std::string line = g_program + ": " + message;
  if (errnum != 0) line += std::string(": ") + std::strerror(errnum);
  line += '\n';
  std::fputs(line.c_str(), stderr);
}

void try_help() { std::fprintf(stderr, "Try '%s --help' for more information.\n", g_program.c_str()); }

// gnulib's close_stream: whether `stream` had or has a write error (EBADF on an unused stream is
// not one).
bool close_stream_failed(FILE* stream) {
  bool pending = __fpending(stream) != 0;
  bool failed_before = std::ferror(stream) != 0;
  bool close_failed = std::fclose(stream) != 0;
  if (failed_before || (close_failed && (pending || errno != EBADF))) {
    if (!close_failed) errno = 0;
    return true;
  }
  return false;
}

// What GNU timeout does at exit (atexit(close_stdout)): a failed write to stdout or stderr turns
// any status into 125.
int close_streams(int status) {
  if (close_stream_failed(stdout)) {
    complain("write error", errno, false);
    return kExitFailure;
  }
  if (close_stream_failed(stderr)) return kExitFailure;
  return status;
}

constexpr const char* kHelp = R"(Usage: {0} [OPTION] DURATION COMMAND [ARG]...
  or:  {0} [OPTION]
Start COMMAND, and kill it if it is still running after DURATION.

Mandatory arguments to long options are mandatory for short options too.
  -f, --foreground
                 when timeout is not run directly from a shell prompt,
                   let COMMAND read from the TTY and get TTY signals;
                   in this mode, children of COMMAND are not timed out
  -k, --kill-after=DURATION
                 also send a KILL signal if COMMAND is still running
                   this long after the first signal was sent
  -p, --preserve-status
                 exit with the status of COMMAND, even when it times out
  -s, --signal=SIGNAL
                 the signal to send on timeout; SIGNAL may be a name
                   like 'HUP' or a number; 'kill -l' lists them
  -v, --verbose  report on stderr every signal sent upon timeout
      --help     display this help and exit
      --version  output version information and exit

DURATION is a floating point number with an optional suffix:
's' for seconds (the default), 'm' for minutes, 'h' for hours or 'd' for days.
A duration of 0 disables the associated timeout.

On timeout, the TERM signal is sent unless another SIGNAL is given. TERM ends
any process that neither blocks nor catches it; KILL cannot be caught.
Without --foreground, every signal goes to the whole process tree of COMMAND,
including processes that left its process group.

EXIT status:
  124  if COMMAND times out, and --preserve-status is not given
  125  if timeout itself fails
  126  if COMMAND is found but cannot be invoked
  127  if COMMAND cannot be found
  137  if COMMAND (or timeout itself) is sent the KILL (9) signal (128+9)
  -    the exit status of COMMAND otherwise

This timeout is the GNU-compatible personality of ctxrun {1}: see the
COMPATIBILITY section of ctxrun(1).
)";

constexpr const char* kVersionText = R"(timeout (ctxrun) {0}
The GNU coreutils timeout command line (as of coreutils 9.1), with ctxrun's
teardown of the whole process tree. See the COMPATIBILITY section of ctxrun(1).
)";

// ---------------------------------------------------------------------------------------------
// The command line.

struct Settings {
  double timeout = 0;            // seconds; 0: none
  int term_signal = SIGTERM;     // -s
  double kill_after = 0;         // -k, seconds; 0: none
  bool foreground = false;       // -f, --foreground
  bool preserve_status = false;  // -p, --preserve-status
  bool verbose = false;          // -v
  std::vector<std::string> command;
};

std::optional<double> duration_or_complain(const char* text) {
  auto seconds = parse_duration(text);
  if (!seconds) {
    complain("invalid time interval " + quote(text));
    try_help();
  }
  return seconds;
}

// The settings, or the status to exit with at once (after --help, --version or an error).
std::variant<Settings, int> parse_command_line(int argc, char** argv) {
  enum { kHelpOption = CHAR_MIN - 2, kVersionOption = CHAR_MIN - 3 };
  // GNU's table, in GNU's order: getopt_long lists the candidates of an ambiguous abbreviation
  // ("--v": '--verbose' '--version') in this order.
  static const option kLongOptions[] = {
      {"kill-after", required_argument, nullptr, 'k'},
      {"signal", required_argument, nullptr, 's'},
      {"verbose", no_argument, nullptr, 'v'},
      {"foreground", no_argument, nullptr, 'f'},
      {"preserve-status", no_argument, nullptr, 'p'},
      {"help", no_argument, nullptr, kHelpOption},
      {"version", no_argument, nullptr, kVersionOption},
      {nullptr, 0, nullptr, 0},
  };
  Settings settings;
  // "+": options end at the first operand, so the command's own options are left alone. -f and -p
  // are newer coreutils' short forms of --foreground and --preserve-status (POSIX.1-2024).
  int c;
  while ((c = getopt_long(argc, argv, "+fk:ps:v", kLongOptions, nullptr)) != -1) {
    switch (c) {
      case 'k': {
        auto seconds = duration_or_complain(optarg);
        if (!seconds) return kExitFailure;
        settings.kill_after = *seconds;
        break;
      }
      case 's': {
        auto sig = parse_signal(optarg);
        if (!sig) {
          complain(quote(optarg) + ": invalid signal");
          try_help();
          return kExitFailure;
        }
        settings.term_signal = *sig;
        break;
      }
      case 'v': settings.verbose = true; break;
      case 'f': settings.foreground = true; break;
      case 'p': settings.preserve_status = true; break;
      case kHelpOption: std::fputs(fmt::format(kHelp, g_program, kVersion).c_str(), stdout); return 0;
      case kVersionOption: std::fputs(fmt::format(kVersionText, kVersion).c_str(), stdout); return 0;
      default:  // getopt_long has said what was wrong
        try_help();
        return kExitFailure;
    }
  }
  if (argc - optind < 2) {
    try_help();
    return kExitFailure;
  }
  auto timeout = duration_or_complain(argv[optind++]);
  if (!timeout) return kExitFailure;
  settings.timeout = *timeout;
  settings.command.assign(argv + optind, argv + argc);
  return settings;
}

// ---------------------------------------------------------------------------------------------
// The run.

// --foreground: GNU timeout signals the command alone, never its children, and is no subreaper.
// The monitor signals only while the command is unreaped, so the pid cannot have been reused.
class CommandOnly final : public ProcessTree {
 public:
  const char* name() const noexcept override { return "command"; }
  std::vector<ProcessInfo> members() override {
    if (command_ && ::kill(*command_, 0) == 0) return {ProcessInfo{.pid = *command_}};
    return {};
  }
  std::vector<ProcessInfo> signal_all(int sig, bool then_cont, std::optional<pid_t>) override {
    if (!command_ || ::kill(*command_, sig) != 0) return {};
    if (then_cont) ::kill(*command_, SIGCONT);
    return {ProcessInfo{.pid = *command_}};
  }
};

// Arms `timer` for `seconds` as GNU rounds them (to_timespec); false for 0, which is no timer. GNU
// arms a relative CLOCK_REALTIME timer, which Linux runs on the monotonic clock, as Timer does:
// clock changes do not move it.
bool arm_for(Timer& timer, double seconds) {
  timespec when = to_timespec(seconds);
  if (when.tv_sec == 0 && when.tv_nsec == 0) return false;
  timer.arm(when);
  return true;
}

// How the personality ends: die of `die_of` (if set and that is possible), else exit with `status`.
struct Plan {
  int status = 0;
  int die_of = 0;
  bool dumped_core = false;
};

// Drives one run as GNU timeout's main loop does, with its signal sends going through `tree`.
// Passive between events: it blocks in poll() on the signalfd and its timers, never sleeps.
class Monitor {
 public:
  Monitor(const Settings& settings, const SignalRegime& signals, ProcessTree& tree)
      : s_(settings),
        signals_(signals),
        tree_(tree),
        term_signal_(settings.term_signal),
        kill_after_(settings.kill_after) {
    sigemptyset(&ignoring_);
  }

  Plan run();

 private:
  bool tree_mode() const { return !s_.foreground; }
  void wait(int timer, bool watch_tree);
  void dispatch();
  void cleanup(int sig);
  void send(int sig);
  void kill_tree();
  void wait_for_leftovers();
  bool reaped() const { return reaper_.command_status().has_value(); }
  Plan plan() const;

  const Settings& s_;
  const SignalRegime& signals_;
  ProcessTree& tree_;
  int term_signal_;             // the next signal the timer sends: SIGKILL once -k is armed
  double kill_after_;           // 0 once the -k timer is armed (only the first signal arms it)
  Timer timeout_timer_;         // DURATION
  Timer kill_timer_;            // -k
  bool timeout_armed_ = false;  // until it fires
  bool kill_armed_ = false;     // once the first signal is sent, until it fires
  bool timed_out_ = false;      // the timer fired (or SIGALRM came) before the command was reaped
  bool signalled_ = false;      // a signal went to the command (or tree)
  bool killed_ = false;         // tree mode: SIGKILL went to the tree while the command ran (GNU
                                // timeout is then killed by its own kill(0, SIGKILL))
  sigset_t ignoring_;           // tree mode: signals GNU timeout ignores by now, having sent them to
                                // its own process group
  Reaper reaper_;
  Timer kill_limit_;                    // the kill phase's limit, made before the spawn (kill_phase.h)
  std::vector<ProcessInfo> survivors_;  // what the kill phase could not end
};

void Monitor::wait(int timer, bool watch_tree) {
  pollfd fds[4] = {{signals_.fd(), POLLIN, 0},
                   {timer < 0 && timeout_armed_ ? timeout_timer_.fd() : -1, POLLIN, 0},
                   {timer >= 0    ? timer
                    : kill_armed_ ? kill_timer_.fd()
                                  : -1,
                    POLLIN, 0},
                   {watch_tree ? tree_.change_fd() : -1, POLLPRI, 0}};
  while (::poll(fds, 4, -1) < 0 && errno == EINTR) {}
}

// Every signal read, then every timer that fired (a SIGALRM each), in GNU's cleanup().
void Monitor::dispatch() {
  signalfd_siginfo info;
  while (::read(signals_.fd(), &info, sizeof info) == sizeof info) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig != SIGCHLD) cleanup(sig);
  }
  for (auto [timer, armed] : {std::pair{&timeout_timer_, &timeout_armed_}, std::pair{&kill_timer_, &kill_armed_}}) {
    if (*armed && timer->fired()) {
      *armed = false;
      cleanup(SIGALRM);
    }
  }
}

// GNU's cleanup(sig): what timeout does with each signal it takes. SIGALRM is the timer: the
// signal sent is -s's (SIGKILL once -k is armed). Any other is sent on as it is.
void Monitor::cleanup(int sig) {
  if (killed_) return;  // GNU timeout is dead by now
  if (tree_mode() && sigismember(&ignoring_, sig) == 1) return;
  if (sig == SIGALRM) {
    if (!reaped()) timed_out_ = true;
    sig = term_signal_;
  }
  if (kill_after_ > 0) {
    term_signal_ = SIGKILL;
    kill_armed_ = arm_for(kill_timer_, kill_after_);
    kill_after_ = 0;
  }
  if (s_.verbose && !reaped())
    complain("sending signal " + signal_name(sig).value_or(std::to_string(sig)) + " to command " +
             quote(s_.command.front()));
  send(sig);
}

// GNU sends to the command, then (without --foreground) to its process group, each followed by
// SIGCONT; having sent a signal to its own group, it ignores that signal (and SIGCONT) from then on.
// Here the group is the tree. SIGKILL to the group kills GNU timeout itself: here the tree is
// killed to the last process first.
void Monitor::send(int sig) {
  signalled_ = true;
  if (!tree_mode()) {
    tree_.signal_all(sig, false, std::nullopt);
    return;
  }
  if (sig == SIGKILL) {
    killed_ = !reaped();
    kill_tree();
    return;
  }
  tree_.signal_all(sig, sig != SIGCONT && sig != SIGSTOP, std::nullopt);
  if (sig == SIGSTOP) {
    // SIGSTOP cannot be ignored: GNU's kill(0, SIGSTOP) stops GNU timeout too, and its SIGCONT
    // follows only once something continues it.
    ::raise(SIGSTOP);
    tree_.signal_all(SIGCONT, false, std::nullopt);
  }
  if (sig > 0 && sig != SIGSTOP) sigaddset(&ignoring_, sig);
  sigaddset(&ignoring_, SIGCONT);
}

// SIGKILL sweeps until nothing of the tree is left (every zombie reaped), for kKillPhaseLimit at
// most: a process in uninterruptible sleep is left to die later.
void Monitor::kill_tree() {
  auto result = kill_phase(tree_, reaper_, kill_limit_, signals_.fd(), [this] {
    signalfd_siginfo info;
    while (::read(signals_.fd(), &info, sizeof info) == sizeof info) {}  // nothing more to do
  });
  survivors_ = std::move(result.survivors);
}

// Tree mode, after the command was reaped: GNU timeout would exit now. With -k armed, the rest of
// the tree gets until the -k timer to go, then SIGKILL.
void Monitor::wait_for_leftovers() {
  while (!killed_ && kill_armed_ && !tree_.gone(reaper_.has_children())) {
    wait(-1, true);
    dispatch();
    reaper_.reap();
  }
}

Plan Monitor::run() {
  for (const Timer* timer : {&timeout_timer_, &kill_timer_, &kill_limit_})
    if (!timer->ok()) {
      complain("cannot create a timer", timer->error());
      return {.status = kExitFailure};
    }
  timeout_armed_ = arm_for(timeout_timer_, s_.timeout);  // GNU starts the clock at fork, before exec
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  auto spawned = spawn(SpawnRequest{.argv = s_.command, .env = env, .signals = signals_, .tree = tree_});
  if (auto* failure = std::get_if<SpawnFailure>(&spawned)) {
    if (failure->in_fork) {
      complain("fork system call failed", failure->error);
      return {.status = kExitFailure};
    }
    complain("failed to run command " + quote(s_.command.front()), failure->error);
    if (failure->before_exec) return {.status = kExitFailure};
    return {.status = failure->error == ENOENT ? kExitNotFound : kExitCannotExecute};
  }
  pid_t command = std::get<pid_t>(spawned);
  reaper_.expect(command);
  tree_.started(command);
  while (!reaped()) {
    wait(-1, false);
    dispatch();
    reaper_.reap();
  }
  if (tree_mode() && signalled_) wait_for_leftovers();
  return plan();
}

// GNU's ending: the command's exit status; its fatal signal raised again unless it timed out;
// 137 if it timed out and died of SIGKILL (even with --preserve-status); 124 if it timed out.
Plan Monitor::plan() const {
  Plan plan;
  // Unlike GNU (which dies of its own SIGKILL and cannot tell), a process that survived the kill
  // phase (uninterruptible sleep) is reported, and the status says the teardown failed.
  if (!survivors_.empty()) {
    for (const auto& p : survivors_)
      complain(fmt::format("process {} ({}) survived teardown (state {})", p.pid, p.name, p.state));
    return {.status = kExitFailure};
  }
  bool preserve = s_.preserve_status;
  int status = *reaper_.command_status();
  if (WIFEXITED(status)) {
    plan.status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    plan.dumped_core = WCOREDUMP(status);
    if (!timed_out_) plan.die_of = sig;
    if (timed_out_ && sig == SIGKILL) preserve = true;
    plan.status = 128 + sig;
  }
  if (timed_out_ && !preserve) plan.status = kExitDeadlineExceeded;
  if (killed_) plan.die_of = SIGKILL;
  return plan;
}

// The signals GNU timeout takes: ALRM, INT, QUIT, HUP, TERM and the -s signal (when it can be
// caught and is not one timeout handles otherwise). The command gets each with SIG_DFL.
std::vector<int> cleanup_signals(int term_signal) {
  std::vector<int> sigs{SIGALRM, SIGINT, SIGQUIT, SIGHUP, SIGTERM};
  bool catchable = term_signal > 0 && term_signal != SIGKILL && term_signal != SIGSTOP && term_signal != SIGCHLD &&
                   term_signal != SIGTTIN && term_signal != SIGTTOU;
  bool listed = false;
  for (int sig : sigs) listed |= sig == term_signal;
  if (catchable && !listed) sigs.push_back(term_signal);
  return sigs;
}

// GNU timeout's signal regime: the signals above are caught even if ignored at start (so the
// command gets them with SIG_DFL), but one blocked at start stays blocked (GNU waits in
// sigsuspend with the start-up mask), except SIGALRM; TTIN and TTOU are ignored (timeout may sit
// in a background group) and reset for the command; the command's mask is the start-up mask
// without SIGCHLD.
std::optional<SignalRegime> install_signals(int term_signal) {
  sigset_t start_mask;
  sigprocmask(SIG_SETMASK, nullptr, &start_mask);
  auto caught = cleanup_signals(term_signal);
  std::vector<int> watch;
  for (int sig : caught)
    if (sig == SIGALRM || sigismember(&start_mask, sig) != 1) watch.push_back(sig);
  std::vector<int> reset = caught;
  reset.insert(reset.end(), {SIGCHLD, SIGTTIN, SIGTTOU});
  return SignalRegime::install(SignalSpec{.watch = std::move(watch),
                                          .respect_ignored = false,
                                          .ignore = {SIGTTIN, SIGTTOU},
                                          .default_in_child = std::move(reset),
                                          .unblock_in_child = {SIGCHLD}});
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool invoked_as_timeout(const char* argv0) noexcept {
  if (argv0 == nullptr) return false;
  const char* slash = std::strrchr(argv0, '/');
  const char* base = slash ? slash + 1 : argv0;
  return std::strcmp(base, "timeout") == 0 || std::strcmp(base, "ctxrun-timeout") == 0;
}

int timeout_main(int argc, char** argv) {
  // 1. As GNU: the user's locale (messages' quotes, the decimal point of DURATION).
  std::setlocale(LC_ALL, "");
  if (argv[0] != nullptr) g_program = argv[0];
  // 2. The command line.
  auto parsed = parse_command_line(argc, argv);
  if (auto* status = std::get_if<int>(&parsed)) return close_streams(*status);
  const auto& settings = std::get<Settings>(parsed);
  // 3. Without --foreground, timeout leads a process group of its own, as GNU's does (so the
  //    command is not in the terminal's foreground group).
  if (!settings.foreground) setpgid(0, 0);
  // 4. Signals as GNU timeout takes them.
  auto signals = install_signals(settings.term_signal);
  if (!signals) {
    complain("cannot set up signal handling", errno);
    return close_streams(kExitFailure);
  }
  // 5. Who gets the signals: the command alone (--foreground), or its whole tree. A cgroup leaf
  //    is handed to a guardian (guardian.h), so that it is emptied and removed even if timeout
  //    dies of a signal it does not take; no run marker: the command's environment stays GNU's.
  std::unique_ptr<ProcessTree> tree;
  std::optional<Guardian> guardian;
  if (settings.foreground) {
    tree = std::make_unique<CommandOnly>();
  } else {
    // Before the tree is made: not part of it. Without one, the run goes on (as ctxrun's does).
    if (auto started = Guardian::start(); auto* made = std::get_if<Guardian>(&started))
      guardian.emplace(std::move(*made));
    become_subreaper();  // without it, automatic falls back to the pgroup backend
    std::string why;
    bool guarding = false;  // the guardian was given a leaf: the only order it takes here
    auto made = make_process_tree(TreeSetup{.tell_guardian =
                                                [&](const std::string& order) {
                                                  if (guardian) guardian->order(order);
                                                  guarding = true;
                                                },
                                            .own_helper = guardian ? guardian->pid() : std::nullopt},
                                  why);
    if (auto* error = std::get_if<std::string>(&made)) {
      complain(*error);
      return close_streams(kExitFailure);
    }
    tree = std::move(std::get<std::unique_ptr<ProcessTree>>(made));
    if (!guarding) guardian.reset();
  }
  // 6. Run; release the backend (a cgroup leaf is removed) and the guardian before ending, which
  //    may be by a signal.
  Plan plan = Monitor(settings, *signals, *tree).run();
  tree.reset();
  guardian.reset();
  // 7. End as GNU timeout does.
  if (plan.dumped_core) complain("the monitored command dumped core");
  if (plan.die_of != 0) {
    prctl(PR_SET_DUMPABLE, 0);  // GNU's disable_core_dumps()
    SignalRegime::die_of(plan.die_of);
  }
  return close_streams(plan.status);
}

}  // namespace ctxrun::gnu
