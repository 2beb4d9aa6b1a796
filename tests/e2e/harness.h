// The end-to-end harness: starts the real ctxrun binary with real children, talks to it over
// pipes, and checks that nothing of any tree survives.
//
// The test process is a child subreaper (main.cpp), so any process that escaped ctxrun ends up as
// its child once ctxrun is gone: survivors() finds every one of them.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "ctxrun/unique_fd.h"
#include "proc.h"

namespace e2e {

using namespace std::chrono_literals;

// Whether this build runs under AddressSanitizer (CTXRUN_SANITIZE), whose runtime needs /proc.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

inline const std::string kCtxrun = CTXRUN_BIN;
inline const std::string kHelper = CTXRUN_HELPER;

struct Spec {
  std::vector<std::string> args;  // after the program name
  std::string argv0 = kCtxrun;    // what ctxrun is started as (path to exec)
  std::string name;               // argv[0] as seen by ctxrun; default: argv0
  bool capture_stdout = false;    // stdout to a pipe (else the test's stdout)
  std::vector<int> block;         // signals blocked when ctxrun starts
  std::vector<int> ignore;        // signals ignored when ctxrun starts
  std::vector<int> pass_fds;      // extra descriptors ctxrun inherits (same numbers)
  std::vector<std::string> env;   // extra "NAME=value"
  bool new_session = false;       // start ctxrun in a new session (no terminal)
};

struct Exit {
  int status = 0;   // raw wait status
  std::string err;  // everything ctxrun wrote on stderr
  std::chrono::nanoseconds took{0};
  bool exited(int code) const;
  bool killed_by(int sig) const;
  std::string describe() const;
};

// One running ctxrun. Fd 3 of ctxrun (and so of the command) is the write end of the report pipe.
class Process {
 public:
  explicit Process(const Spec& spec);
  // The moved-from Process no longer owns the child: only one kills and waits for it.
  Process(Process&& other) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }

  // Reads report lines up to "ready"; returns the pids reported ("pid N"). Fails the test if
  // "ready" does not come within `limit`.
  std::vector<pid_t> await_ready(std::chrono::milliseconds limit = 20s);
  // The next report line ("" on EOF or after `limit`).
  std::string next_line(std::chrono::milliseconds limit = 20s);
  // Reads stderr until a line containing `text` arrives; false after `limit`.
  bool await_stderr(const std::string& text, std::chrono::milliseconds limit = 20s);
  // Whether the report pipe reaches EOF (every holder gone) within `limit`.
  bool report_eof(std::chrono::milliseconds limit);
  // Whether stdout (capture_stdout) reaches EOF within `limit`.
  bool stdout_eof(std::chrono::milliseconds limit);
  // Everything on stdout (capture_stdout) up to EOF, or what came within `limit`.
  std::string stdout_text(std::chrono::milliseconds limit = 20s);

  void signal(int sig) const;
  // Waits for ctxrun to end (SIGKILLs it and fails the test after `limit`).
  Exit wait(std::chrono::milliseconds limit = 60s);
  // Whether ctxrun is still running after `limit`.
  bool still_running_after(std::chrono::milliseconds limit);

  int report_read_fd() const { return report_.get(); }
  const std::string& stderr_so_far() const { return err_text_; }

 private:
  pid_t pid_ = 0;
  ctxrun::unique_fd pidfd_, report_, err_, out_;
  std::string err_text_, report_buf_;
  std::chrono::steady_clock::time_point started_;
  bool reaped_ = false;
};

// Starts, waits, returns. For runs that need no interaction.
Exit run(const Spec& spec, std::chrono::milliseconds limit = 60s);
Exit run(std::vector<std::string> args, std::chrono::milliseconds limit = 60s);

// Live descendants of the test process (the escapees). Zombies are reaped first.
std::vector<ctxrun::ProcessInfo> survivors();
// Waits (on pidfds, no sleeping) until the test process has no live descendant left, up to
// `limit`; true if none is left.
bool await_no_survivors(std::chrono::milliseconds limit);
// Kills and reaps every descendant of the test process.
void kill_survivors();
// Whether process `pid` is gone (or is a zombie: dead, not yet reaped).
bool gone(pid_t pid);

// The whole file ("" if it cannot be read).
std::string slurp(const std::string& path);
// A fresh, empty directory `name` under temp_dir() (what was there under that name is removed).
std::string fresh_dir(const std::string& name);
// The lines of `text`, without their newlines; and the last of them ("" for none).
std::vector<std::string> lines_of(const std::string& text);
// `s` as one word for sh.
std::string sh_word(const std::string& s);
std::string last_line(const std::string& text);
// A usage error: ctxrun given `args` exits 125 at once with one line on stderr, "ctxrun: ...", that
// is its own words (not a bare "unknown option") and names one of `names` (the option at fault).
struct UsageCase {
  std::vector<std::string> args;
  std::vector<std::string> names;
};
void check_usage_error(const UsageCase& c);

// A duration in seconds.
inline double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

// A fresh temporary directory for this test process (made on first use; main removes it).
std::string temp_dir();
std::string& temp_dir_path();  // "" until temp_dir() made it

// Checks no process of any tree survived; kills what did. Use as a fixture in every test case.
struct NoSurvivors {
  NoSurvivors();
  ~NoSurvivors();
};

}  // namespace e2e
