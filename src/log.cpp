#include "ctxrun/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

namespace ctxrun::log {
namespace {

std::string g_program = "ctxrun";
Verbosity g_verbosity = Verbosity::normal;
std::shared_ptr<spdlog::logger> g_verbose_logger;

}  // namespace

void configure(std::string program, Verbosity verbosity) {
  g_program = std::move(program);
  g_verbosity = verbosity;
  if (verbosity == Verbosity::verbose && !g_verbose_logger) {
    // Made only for -v: a plain run never touches spdlog. The elapsed time since start (%o is
    // since the previous line; the runner adds absolute figures itself).
    g_verbose_logger = std::make_shared<spdlog::logger>("ctxrun", std::make_shared<spdlog::sinks::stderr_sink_st>());
    g_verbose_logger->set_pattern(g_program + ": %v");
    g_verbose_logger->flush_on(spdlog::level::info);
  }
}

const std::string& program() { return g_program; }

bool verbose_enabled() { return g_verbosity == Verbosity::verbose; }

void write_line(Verbosity level, const std::string& message) {
  if (level > g_verbosity) return;
  if (level == Verbosity::verbose && g_verbose_logger) {
    g_verbose_logger->info(message);
    return;
  }
  std::string line = g_program + ": " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace ctxrun::log
