// The pieces of the `timeout` personality (include/ctxrun/gnu_timeout.h). The behaviour as a whole
// is tested against GNU's timeout itself in tests/e2e/timeout_compat_test.cpp; these pin the
// arithmetic and the tables where a differential run cannot see them (rounding to the
// nanosecond, which name of a number is preferred).
#include "gnu_timeout.h"
#include "gnu_parse.h"

#include <doctest/doctest.h>
#include <locale.h>
#include <signal.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <string>

namespace gnu = ctxrun::gnu;

namespace {

// Sets the process's locale for one scope (the test binary otherwise runs in "C").
class ScopedLocale {
 public:
  explicit ScopedLocale(const char* name) : old_(setlocale(LC_ALL, nullptr)) {
    ok_ = setlocale(LC_ALL, name) != nullptr;
  }
  ~ScopedLocale() { setlocale(LC_ALL, old_.c_str()); }
  bool ok() const { return ok_; }

 private:
  std::string old_;
  bool ok_ = false;
};

}  // namespace

TEST_CASE("gnu::invoked_as_timeout: the basename of argv[0] is timeout or ctxrun-timeout") {
  CHECK(gnu::invoked_as_timeout("timeout"));
  CHECK(gnu::invoked_as_timeout("/usr/local/bin/timeout"));
  CHECK(gnu::invoked_as_timeout("./timeout"));
  CHECK(gnu::invoked_as_timeout("ctxrun-timeout"));
  CHECK(gnu::invoked_as_timeout("/opt/bin/ctxrun-timeout"));
  CHECK_FALSE(gnu::invoked_as_timeout("ctxrun"));
  CHECK_FALSE(gnu::invoked_as_timeout("gtimeout"));
  CHECK_FALSE(gnu::invoked_as_timeout("timeout.sh"));
  CHECK_FALSE(gnu::invoked_as_timeout("/usr/bin/timeout/"));
  CHECK_FALSE(gnu::invoked_as_timeout(nullptr));
}

TEST_CASE("gnu::parse_duration: GNU's grammar, suffixes and out-of-range values") {
  CHECK(gnu::parse_duration("10") == 10.0);
  CHECK(gnu::parse_duration("1.5m") == 90.0);
  CHECK(gnu::parse_duration(".5h") == 1800.0);
  CHECK(gnu::parse_duration("2d") == 172800.0);
  CHECK(gnu::parse_duration("0x10") == 16.0);
  CHECK(gnu::parse_duration(" +1e1s") == 10.0);
  CHECK(gnu::parse_duration("0") == 0.0);
  auto minus_zero = gnu::parse_duration("-0");
  REQUIRE(minus_zero);
  CHECK(*minus_zero == 0.0);
  CHECK(std::isinf(*gnu::parse_duration("inf")));
  CHECK(std::isinf(*gnu::parse_duration("1e400")));      // overflow: accepted, no practical limit
  CHECK(gnu::parse_duration("1e-400") == DBL_TRUE_MIN);  // underflow: tiny, not 0 (newer coreutils)
  CHECK(gnu::parse_duration("1e-400d") == DBL_TRUE_MIN * 86400);
  for (const char* bad : {"", " ", "x", "1x", "1ss", "1 ", "1S", "nan", "-1", "-inf", "1,5", "s"}) {
    CAPTURE(bad);
    CHECK_FALSE(gnu::parse_duration(bad));
  }
}

TEST_CASE("gnu::to_timespec: rounds up to the nanosecond and clamps") {
  auto same = [](timespec a, timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; };
  CHECK(same(gnu::to_timespec(0), {0, 0}));
  CHECK(same(gnu::to_timespec(1), {1, 0}));
  CHECK(same(gnu::to_timespec(1e-10), {0, 1}));
  CHECK(same(gnu::to_timespec(1.5e-9), {0, 2}));
  CHECK(same(gnu::to_timespec(DBL_TRUE_MIN), {0, 1}));
  CHECK(same(gnu::to_timespec(2.5), {2, 500000000}));
  CHECK(same(gnu::to_timespec(0.999999999999), {1, 0}));  // the rounded-up nanosecond carries
  constexpr time_t kMax = std::numeric_limits<time_t>::max();
  CHECK(same(gnu::to_timespec(1e300), {kMax, 999999999}));
  CHECK(same(gnu::to_timespec(std::numeric_limits<double>::infinity()), {kMax, 999999999}));
}

TEST_CASE("gnu::parse_signal: names, numbers, shell statuses and real-time signals") {
  CHECK(gnu::parse_signal("TERM") == SIGTERM);
  CHECK(gnu::parse_signal("sigterm") == SIGTERM);
  CHECK(gnu::parse_signal("15") == SIGTERM);
  CHECK(gnu::parse_signal("143") == SIGTERM);  // 128 + 15, as a shell reports it
  CHECK(gnu::parse_signal("271") == SIGTERM);  // 256 + 15, as ksh reports it
  CHECK(gnu::parse_signal("0") == 0);
  CHECK(gnu::parse_signal("EXIT") == 0);
  CHECK(gnu::parse_signal("128") == 0);
  CHECK(gnu::parse_signal("SIG9") == SIGKILL);
  CHECK(gnu::parse_signal("RTMIN") == SIGRTMIN);
  CHECK(gnu::parse_signal("rtmin+2") == SIGRTMIN + 2);
  CHECK(gnu::parse_signal("RTMIN 1") == SIGRTMIN + 1);  // strtol skips the blank, as in gnulib
  CHECK(gnu::parse_signal("RTMAX-1") == SIGRTMAX - 1);
  for (const char* bad : {"", "SIG", "FOO", "-15", " 15", "15 ", "0x1f", "255", "32", "65", "SIG143", "RTMIN-1",
                          "RTMAX+1", "RTMIN+", "2147483648"}) {
    CAPTURE(bad);
    CHECK_FALSE(gnu::parse_signal(bad));
  }
}

TEST_CASE("gnu::signal_name: the preferred name of each number, as gnulib's sig2str") {
  CHECK(gnu::signal_name(SIGTERM) == "TERM");
  CHECK(gnu::signal_name(SIGABRT) == "ABRT");  // not IOT
  CHECK(gnu::signal_name(SIGCHLD) == "CHLD");  // not CLD
  CHECK(gnu::signal_name(SIGPOLL) == "POLL");  // not IO
  CHECK(gnu::signal_name(0) == "EXIT");
  int half = (SIGRTMAX - SIGRTMIN) / 2;
  CHECK(gnu::signal_name(SIGRTMIN) == "RTMIN");
  CHECK(gnu::signal_name(SIGRTMIN + half) == "RTMIN+" + std::to_string(half));
  CHECK(gnu::signal_name(SIGRTMIN + half + 1) == "RTMAX-" + std::to_string(SIGRTMAX - SIGRTMIN - half - 1));
  CHECK(gnu::signal_name(SIGRTMAX) == "RTMAX");
  CHECK_FALSE(gnu::signal_name(SIGRTMIN - 1));
  CHECK_FALSE(gnu::signal_name(SIGRTMAX + 1));
  CHECK_FALSE(gnu::signal_name(-1));
}

TEST_CASE("gnu::quote: GNU's quote() in the C and in a UTF-8 locale") {
  {
    ScopedLocale c("C");
    CHECK(gnu::quote("sleep") == "'sleep'");
    CHECK(gnu::quote("it's") == "'it\\'s'");
    CHECK(gnu::quote("a\\b") == "'a\\\\b'");
    CHECK(gnu::quote("a\tb\n") == "'a\\tb\\n'");
    CHECK(gnu::quote("\x01\x7f") == "'\\001\\177'");
    CHECK(gnu::quote("caf\xc3\xa9") == "'caf\\303\\251'");  // not printable in C
    CHECK(gnu::quote("") == "''");
  }
  ScopedLocale utf8("C.UTF-8");
  if (!utf8.ok()) return;  // no UTF-8 locale on this system
  CHECK(gnu::quote("sleep") == "\u2018sleep\u2019");
  CHECK(gnu::quote("it's") == "\u2018it's\u2019");
  CHECK(gnu::quote("caf\xc3\xa9") == "\u2018caf\xc3\xa9\u2019");
  CHECK(gnu::quote("q\u2019q") == "\u2018q\\\u2019q\u2019");  // the closing quote is escaped
  CHECK(gnu::quote("bad\xff") == "\u2018bad\\377\u2019");     // an invalid byte
  CHECK(gnu::quote("cut\xc3") == "\u2018cut\\303\u2019");     // an incomplete sequence
}
