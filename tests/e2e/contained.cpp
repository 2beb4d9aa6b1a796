#include "contained.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>

namespace e2e {

bool pid_namespaces() {
  static const bool ok = [] {
    auto exit = run(Spec{.args = {"--pid", "--fork", "--mount-proc", "true"}, .argv0 = kUnshare});
    if (!exit.exited(0)) MESSAGE("SKIPPED: cannot make a PID namespace here (unshare: " << exit.err << ")");
    return exit.exited(0);
  }();
  return ok;
}

long ms(std::chrono::nanoseconds d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

pid_t first_child(pid_t parent) {
  std::ifstream in("/proc/" + std::to_string(parent) + "/task/" + std::to_string(parent) + "/children");
  pid_t child = 0;
  in >> child;
  return child;
}

std::vector<ctxrun::ProcessInfo> below(pid_t root) {
  auto all = ctxrun::scan_processes();
  REQUIRE(all.has_value());
  return ctxrun::descendants_of(root, *all);
}

std::string describe(const std::vector<ctxrun::ProcessInfo>& processes) {
  std::ostringstream s;
  for (const auto& p : processes) s << " [" << p.pid << " " << p.name << " " << p.state << "]";
  return s.str();
}

std::string place_name(Place place) { return place == Place::pid1 ? "ctxrun as PID 1" : "ctxrun below PID 1"; }

namespace {

// unshare, when its child was SIGKILLed, fails to re-raise SIGKILL on itself and says so
// ("sigprocmask unblock failed"): not ctxrun's words.
void drop_unshare_lines(std::string& err) {
  std::string kept;
  for (const auto& line : lines_of(err))
    if (line.rfind("unshare: ", 0) != 0) kept += line + "\n";
  err = kept;
}

}  // namespace

Contained::Contained(Place place, bool own_proc, const std::vector<std::string>& ctxrun_args, const Programs& programs)
    : place_(place) {
  std::vector<std::string> args{"--pid", "--fork", "--kill-child"};
  if (!programs.root.empty()) {
    // --mount-proc=DIR makes a private mount namespace too: the mount goes with the namespace.
    args.insert(args.end(), {"--mount-proc=" + programs.root + "/proc", "/usr/sbin/chroot", programs.root});
  } else if (own_proc) {
    args.push_back("--mount-proc");
  }
  if (place == Place::below_pid1) args.insert(args.end(), {programs.helper, "pid1", "1", "3"});
  args.push_back(programs.ctxrun);
  args.insert(args.end(), ctxrun_args.begin(), ctxrun_args.end());
  process_.emplace(Spec{.args = args, .argv0 = kUnshare});
}

pid_t Contained::pid1() { return first_child(process_->pid()); }

pid_t Contained::ctxrun() {
  if (place_ == Place::pid1) return pid1();
  for (const auto& p : below(pid1()))
    if (p.name == "ctxrun" && p.state != 'Z') return p.pid;
  return 0;
}

Ended Contained::finish(std::chrono::steady_clock::time_point since) {
  using Clock = std::chrono::steady_clock;
  Ended out;
  if (place_ == Place::pid1) {
    out.ended = !process_->still_running_after(kGiveUp);
    auto ended_at = Clock::now();
    if (!out.ended) ::kill(pid1(), SIGKILL);
    out.exit = process_->wait();
    out.exit.took = ended_at - since;
    drop_unshare_lines(out.exit.err);
    return out;
  }
  // The pid1 helper reports "exited N" or "killed N" when ctxrun ends, then stays.
  std::string line;
  while (true) {
    auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(since + kGiveUp - Clock::now());
    line = process_->next_line(std::max(left_ms, std::chrono::milliseconds(1)));
    if (line.empty() || line.rfind("exited ", 0) == 0 || line.rfind("killed ", 0) == 0) break;
  }
  auto ended_at = Clock::now();
  out.ended = !line.empty();
  pid_t init = pid1();
  if (out.ended) {
    for (auto& p : below(init))
      if (p.state != 'Z' && p.state != 'X') out.left.push_back(p);
  }
  if (init > 0) ::kill(init, SIGKILL);  // the whole namespace goes with its PID 1
  out.exit = process_->wait();
  out.exit.took = ended_at - since;
  drop_unshare_lines(out.exit.err);
  int code = out.ended ? std::atoi(line.c_str() + 7) : 0;
  out.exit.status = line.rfind("killed ", 0) == 0 ? code : code << 8;
  return out;
}

void check_prompt_and_clean(const Ended& end) {
  CHECK_MESSAGE(end.ended, "ctxrun did not end within " << ms(kGiveUp) << "ms; stderr: " << end.exit.err);
  CHECK_MESSAGE(end.exit.took < kPrompt, "the ending took " << ms(end.exit.took) << "ms; stderr: " << end.exit.err);
  CHECK_MESSAGE(end.left.empty(), "left running in the namespace:" << describe(end.left));
}

}  // namespace e2e
