#include "log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>

namespace ctxrun::log {
namespace {

std::string g_program = "ctxrun";
Verbosity g_verbosity = Verbosity::normal;
std::shared_ptr<spdlog::logger> g_verbose_logger;
const auto g_started = std::chrono::system_clock::now();

// The %* flag: seconds since ctxrun started, to the millisecond.
class SinceStart final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    auto since = std::chrono::duration<double>(msg.time - g_started).count();
    fmt::format_to(std::back_inserter(dest), "{:.3f}s", since);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SinceStart>(); }
};

}  // namespace

void configure(std::string program, Verbosity verbosity) {
  g_program = std::move(program);
  g_verbosity = verbosity;
  if (verbosity == Verbosity::verbose && !g_verbose_logger) {
    // Made only for -v: a plain run never touches spdlog. The elapsed time since start (%o is
    // since the previous line; the runner adds absolute figures itself).
    g_verbose_logger = std::make_shared<spdlog::logger>("ctxrun", std::make_shared<spdlog::sinks::stderr_sink_st>());
    // Each step stamped with the time since ctxrun started ("+0.301s"): what a reader of a
    // teardown wants to see.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SinceStart>('*').set_pattern(g_program + ": +%* %v");
    g_verbose_logger->set_formatter(std::move(formatter));
    g_verbose_logger->flush_on(spdlog::level::info);
  }
}

bool verbose_enabled() { return g_verbosity == Verbosity::verbose; }

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += ch;
  }
  return out;
}

Status write_out(std::string_view text) {
  errno = 0;
  std::fwrite(text.data(), 1, text.size(), stdout);
  // ferror() after fflush(): a failed fwrite may have left nothing for fflush to fail on.
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return fmt::format("write error: {}", std::strerror(errno != 0 ? errno : EIO));
  return std::nullopt;
}

void write_line(Verbosity level, const std::string& message) {
  if (level > g_verbosity) return;
  if (level == Verbosity::verbose && g_verbose_logger) {
    g_verbose_logger->info(one_line(message));
    return;
  }
  std::string line = g_program + ": " + one_line(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ctxrun::log
