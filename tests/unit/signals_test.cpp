// parse_signal and signal_name (include/ctxrun/signals.h). SignalRegime is not tested here: it
// changes the signal state of the whole test process.
#include "ctxrun/signals.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>

#include <string>
#include <string_view>
#include <variant>

using ctxrun::parse_signal;
using ctxrun::signal_name;

namespace {

// Parses `text`, which must be accepted; returns the signal number (-1 and a failed check if not).
int parsed(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_signal(text);
  if (auto* error = std::get_if<std::string>(&r)) {
    FAIL_CHECK("rejected: ", *error);
    return -1;
  }
  return std::get<int>(r);
}

// Parses `text`, which must be rejected; returns the message.
std::string rejected(std::string_view text) {
  INFO("input: '", std::string(text), "'");
  auto r = parse_signal(text);
  if (auto* sig = std::get_if<int>(&r)) {
    FAIL_CHECK("accepted as ", *sig);
    return "(accepted)";
  }
  return std::get<std::string>(r);
}

}  // namespace

TEST_CASE("parse_signal: names with or without SIG, in any case") {
  for (const char* text : {"TERM", "SIGTERM", "term", "sigterm", "Term", "SigTerm", "sIgTeRm"}) {
    CAPTURE(text);
    CHECK(parsed(text) == SIGTERM);
  }
  CHECK(parsed("KILL") == SIGKILL);
  CHECK(parsed("SIGKILL") == SIGKILL);
  CHECK(parsed("HUP") == SIGHUP);
  CHECK(parsed("INT") == SIGINT);
  CHECK(parsed("QUIT") == SIGQUIT);
  CHECK(parsed("USR1") == SIGUSR1);
  CHECK(parsed("sigusr2") == SIGUSR2);
  CHECK(parsed("CHLD") == SIGCHLD);
  CHECK(parsed("CLD") == SIGCHLD);
  CHECK(parsed("ABRT") == SIGABRT);
  CHECK(parsed("IOT") == SIGABRT);
  CHECK(parsed("IO") == SIGIO);
  CHECK(parsed("POLL") == SIGIO);
  CHECK(parsed("STOP") == SIGSTOP);
  CHECK(parsed("CONT") == SIGCONT);
  CHECK(parsed("WINCH") == SIGWINCH);
  CHECK(parsed("SYS") == SIGSYS);
}

TEST_CASE("parse_signal: numbers") {
  CHECK(parsed("15") == 15);
  CHECK(parsed("9") == 9);
  CHECK(parsed("1") == 1);
  CHECK(parsed("0015") == 15);
  CHECK(parsed(fmt::format("{}", SIGRTMAX)) == SIGRTMAX);
  // What signal_name() prints for a signal without a name parses back.
  CHECK(parsed("SIG32") == 32);
  CHECK(parsed("sig15") == 15);
}

TEST_CASE("parse_signal: real-time signals") {
  CHECK(parsed("RTMIN") == SIGRTMIN);
  CHECK(parsed("SIGRTMIN") == SIGRTMIN);
  CHECK(parsed("rtmin") == SIGRTMIN);
  CHECK(parsed("RTMIN+0") == SIGRTMIN);
  CHECK(parsed("RTMIN+2") == SIGRTMIN + 2);
  CHECK(parsed("SIGRTMIN+2") == SIGRTMIN + 2);
  CHECK(parsed("RTMAX") == SIGRTMAX);
  CHECK(parsed("SIGRTMAX") == SIGRTMAX);
  CHECK(parsed("SIGRTMAX-1") == SIGRTMAX - 1);
  CHECK(parsed("rtmax-1") == SIGRTMAX - 1);
  CHECK(parsed(fmt::format("RTMIN+{}", SIGRTMAX - SIGRTMIN)) == SIGRTMAX);
  CHECK(parsed(fmt::format("RTMAX-{}", SIGRTMAX - SIGRTMIN)) == SIGRTMIN);
}

TEST_CASE("parse_signal: rejects, naming the value") {
  std::string too_high = fmt::format("{}", SIGRTMAX + 1);
  std::string below_rtmin = fmt::format("RTMAX-{}", SIGRTMAX - SIGRTMIN + 1);
  std::string above_rtmax = fmt::format("RTMIN+{}", SIGRTMAX - SIGRTMIN + 1);
  for (std::string_view text :
       {std::string_view("0"), std::string_view("65"), std::string_view(too_high), std::string_view("RTMIN+99"),
        std::string_view("RTMAX+1"), std::string_view("RTMIN-1"), std::string_view(below_rtmin),
        std::string_view(above_rtmax), std::string_view("RTMIN+"), std::string_view("RTMAX-"),
        std::string_view("RTMIN+x"), std::string_view("RTMIN2"), std::string_view("RTMIN+-1"), std::string_view("FOO"),
        std::string_view(""), std::string_view("SIG"), std::string_view("SIGSIG"), std::string_view("-1"),
        std::string_view("+15"), std::string_view("SIG0"), std::string_view("SIG-1"), std::string_view("SIGSIGTERM"),
        std::string_view(" TERM"), std::string_view("TERM "), std::string_view(" 15"), std::string_view("15 "),
        std::string_view("1.5"), std::string_view("99999"), std::string_view("TERMX"), std::string_view("TER"),
        std::string_view("SIGTERM2"),
        // Regression: the old case folding (c | 0x20) matched control characters with digits.
        std::string_view("USR\x11"), std::string_view("USR\x12")}) {
    CAPTURE(text);
    CHECK(rejected(text) == fmt::format("invalid signal '{}'", text));
  }
}

TEST_CASE("signal_name: names as kill -l spells them, with SIG") {
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGINT) == "SIGINT");
  CHECK(signal_name(SIGHUP) == "SIGHUP");
  CHECK(signal_name(SIGUSR1) == "SIGUSR1");
  CHECK(signal_name(SIGCHLD) == "SIGCHLD");
  CHECK(signal_name(SIGABRT) == "SIGABRT");
  CHECK(signal_name(SIGRTMIN) == "SIGRTMIN");
  CHECK(signal_name(SIGRTMIN + 2) == "SIGRTMIN+2");
  CHECK(signal_name(SIGRTMAX) == "SIGRTMAX");
  CHECK(signal_name(SIGRTMAX - 1) == fmt::format("SIGRTMIN+{}", SIGRTMAX - 1 - SIGRTMIN));
  CHECK(signal_name(32) == "SIG32");  // reserved by the C library, no name
}

TEST_CASE("signal_name: every signal parses back to itself") {
  for (int sig = 1; sig <= SIGRTMAX; ++sig) {
    std::string name = signal_name(sig);
    CAPTURE(sig);
    CAPTURE(name);
    CHECK(name.rfind("SIG", 0) == 0);
    CHECK(parsed(name) == sig);
  }
}
