#include "probe_set.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "ctxrun/duration.h"
#include "ctxrun/signals.h"
#include "ctxrun/unique_fd.h"
#include "ctxrun/version.h"
#include "probe.h"
#include "tcp_connect.h"
#include "timer.h"
#if CTXRUN_HAVE_CURL
#include "curl_api.h"
#include "curl_driver.h"
#endif

namespace ctxrun {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFirstInterval{250};
constexpr std::chrono::milliseconds kLongestInterval{2000};
// One HTTP(S) or TCP attempt: a server that accepts but never answers is tried again after this.
constexpr std::chrono::milliseconds kAttemptLimit{10000};

// Connects to the unix socket at `path` without blocking: connected, or why not.
Status connect_unix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return std::string("path too long for a unix socket");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  for (int type : {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM}) {
    unique_fd s(socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s) return errno_text(errno);
    int r;
    do r = connect(s.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
    while (r != 0 && errno == EINTR);
    if (r == 0) return std::nullopt;
    if (errno == EAGAIN) return std::string("the server's backlog is full");
    if (errno != EPROTOTYPE) return errno_text(errno);
  }
  return errno_text(EPROTOTYPE);
}

std::string wait_status_text(int status) {
  return WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                           : fmt::format("killed by {}", signal_name(WTERMSIG(status)));
}

}  // namespace

bool needs_libcurl(const ProbeSpec& probe) {
  if (probe.kind == ProbeKind::http) return true;
  return probe.kind == ProbeKind::tcp &&
         !std::holds_alternative<std::vector<TcpAddress>>(numeric_addresses(probe.target));
}

Status probe_unavailable(const ProbeSpec& probe) {
#if CTXRUN_HAVE_CURL
  if (!needs_libcurl(probe)) return std::nullopt;
  auto loaded = curl_api();
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  if (probe.kind != ProbeKind::http) return std::nullopt;
  // What libcurl would refuse at every attempt is refused now, as a usage error.
  const CurlApi& curl = *std::get<const CurlApi*>(loaded);
  CURLU* url = curl.url();
  if (!url) return std::string("cannot initialise libcurl's URL parser");
  CURLUcode code = curl.url_set(url, CURLUPART_URL, probe.target.c_str(), 0);
  curl.url_cleanup(url);
  if (code != CURLUE_OK) return fmt::format("not a URL libcurl takes: {}", lower_first(curl.url_strerror(code)));
  return std::nullopt;
#else
  if (probe.kind == ProbeKind::http)
    return std::string("http(s):// probes need libcurl, and this ctxrun was built without it");
  if (probe.kind == ProbeKind::tcp) {
    auto addresses = numeric_addresses(probe.target);
    if (auto* error = std::get_if<std::string>(&addresses)) return *error;
  }
  return std::nullopt;
#endif
}

struct ProbeSet::Probe {
  ProbeSpec spec;
  ProbeReport report;
  Timer retry;
  std::chrono::milliseconds interval = kFirstInterval;
  std::optional<pid_t> exec_pid;  // exec: the attempt running now
  std::optional<long> http_status;
#if CTXRUN_HAVE_CURL
  const CurlApi* curl = nullptr;
  CURL* easy = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  ~Probe() {
    if (easy) curl->easy_cleanup(easy);
  }
#endif
  std::unique_ptr<TcpConnect> tcp;  // a tcp:// probe served without libcurl
};

struct ProbeSet::Impl {
  Timer limit;
#if CTXRUN_HAVE_CURL
  std::unique_ptr<CurlDriver> curl;
#endif
};

ProbeSet::ProbeSet(EventLoop& loop, Hooks hooks)
    : loop_(loop), hooks_(std::move(hooks)), impl_(std::make_unique<Impl>()) {}

ProbeSet::~ProbeSet() { stop(); }

Result<std::unique_ptr<ProbeSet>> ProbeSet::make(const Readiness& ready, EventLoop& loop, Hooks hooks) {
  std::unique_ptr<ProbeSet> set(new ProbeSet(loop, std::move(hooks)));
  set->limit_ = ready.limit;
  set->limit_text_ = ready.limit_text;
  if (!set->impl_->limit.ok())
    return fmt::format("cannot create a timer: {}", std::strerror(set->impl_->limit.error()));
  for (const auto& text : ready.probes) {
    auto parsed = parse_probe(text);
    if (auto* error = std::get_if<std::string>(&parsed)) return fmt::format("--ready '{}': {}", text, *error);
    auto p = std::make_unique<Probe>();
    p->spec = std::get<ProbeSpec>(parsed);
    p->report.probe = text;
    p->http_status = ready.http_status;
    if (!p->retry.ok()) return fmt::format("cannot create a timer: {}", std::strerror(p->retry.error()));
    if (auto missing = probe_unavailable(p->spec)) return fmt::format("--ready '{}': {}", text, *missing);
    if (p->spec.kind == ProbeKind::tcp || p->spec.kind == ProbeKind::http)
      if (auto error = set->prepare_transfer(*p)) return *error;
    set->probes_.push_back(std::move(p));
  }
  return set;
}

#if CTXRUN_HAVE_CURL
// A libcurl handle for a tcp:// probe to a host name (connect only) or an http(s):// probe, set up
// once and started again at each attempt; a tcp:// probe to an address gets ctxrun's own connect.
Status ProbeSet::prepare_transfer(Probe& p) {
  if (!needs_libcurl(p.spec)) return prepare_connect(p);
  if (!impl_->curl) {
    auto made = CurlDriver::make(loop_);
    if (auto* error = std::get_if<std::string>(&made)) return *error;
    impl_->curl = std::move(std::get<std::unique_ptr<CurlDriver>>(made));
  }
  p.curl = std::get<const CurlApi*>(curl_api());  // loaded: probe_unavailable() said so
  p.easy = p.curl->easy_init();
  if (!p.easy) return std::string("cannot initialise a libcurl handle");
  const CurlApi& curl = *p.curl;
  CURL* e = p.easy;
  // A probe asks the service just started, never a proxy the environment names.
  curl.easy_setopt(e, CURLOPT_PROXY, "");
  curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl.easy_setopt(e, CURLOPT_ERRORBUFFER, p.error);
  curl.easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(kAttemptLimit.count()));
  curl.easy_setopt(e, CURLOPT_USERAGENT, (std::string("ctxrun/") + kVersion).c_str());  // libcurl copies it
  if (p.spec.kind == ProbeKind::tcp) {
    // Connect only: every address the name resolves to, IPv6 and IPv4 (happy eyeballs).
    curl.easy_setopt(e, CURLOPT_URL, ("http://" + p.spec.target + "/").c_str());
    curl.easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    return std::nullopt;
  }
  curl.easy_setopt(e, CURLOPT_URL, p.spec.target.c_str());
  curl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl.easy_setopt(
      e, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  return std::nullopt;
}
#else
Status ProbeSet::prepare_transfer(Probe& p) { return prepare_connect(p); }
#endif

// A tcp:// probe to an address or localhost: ctxrun's own non-blocking connect, in every build.
Status ProbeSet::prepare_connect(Probe& p) {
  Probe* probe = &p;
  p.tcp = std::make_unique<TcpConnect>(loop_, std::get<std::vector<TcpAddress>>(numeric_addresses(p.spec.target)),
                                       kAttemptLimit, [this, probe](Status result) {
                                         if (result) failed(*probe, *result);
                                         else succeeded(*probe);
                                       });
  if (!p.tcp->ok()) return fmt::format("cannot create a timer: {}", std::strerror(p.tcp->error()));
  return std::nullopt;
}

void ProbeSet::start() {
  started_ = Clock::now();
  impl_->limit.arm(limit_);
  loop_.watch(impl_->limit.fd(), POLLIN, [this](short) {
    if (!impl_->limit.fired() || stopped_ || ready()) return;
    expired_ = true;
    stop();
  });
  for (auto& p : probes_) {
    Probe* probe = p.get();
    loop_.watch(probe->retry.fd(), POLLIN, [this, probe](short) {
      if (probe->retry.fired() && !stopped_) attempt(*probe);
    });
    attempt(*probe);
  }
}

void ProbeSet::attempt(Probe& p) {
  ++p.report.attempts;
  switch (p.spec.kind) {
    case ProbeKind::file:
      if (access(p.spec.target.c_str(), F_OK) == 0) succeeded(p);
      else failed(p, errno_text(errno));
      return;
    case ProbeKind::unix_socket:
      if (auto error = connect_unix(p.spec.target)) failed(p, *error);
      else succeeded(p);
      return;
    case ProbeKind::exec: {
      auto started = hooks_.start_exec(p.spec.target);
      if (auto* error = std::get_if<std::string>(&started)) return failed(p, *error);
      p.exec_pid = std::get<pid_t>(started);
      return;
    }
    case ProbeKind::tcp:
      if (p.tcp) {
        p.tcp->start();
        return;
      }
      [[fallthrough]];
    case ProbeKind::http: {
#if CTXRUN_HAVE_CURL
      p.error[0] = '\0';
      Probe* probe = &p;
      auto started = impl_->curl->start(p.easy, [this, probe](CURLcode result) {
        Probe& q = *probe;
        if (result == CURLE_OK && q.spec.kind == ProbeKind::tcp) return succeeded(q);
        if (result == CURLE_OK) {
          long status = 0;
          q.curl->easy_getinfo(q.easy, CURLINFO_RESPONSE_CODE, &status);
          bool accepted = q.http_status ? status == *q.http_status : status >= 200 && status < 400;
          if (accepted) return succeeded(q);
          return failed(q, fmt::format("HTTP status {}", status));
        }
        // The system's word for a refused or unreachable connection ("connection refused"); libcurl
        // keeps the last errno across transfers of a handle, so it counts only for a failed connect.
        long os_error = 0;
        q.curl->easy_getinfo(q.easy, CURLINFO_OS_ERRNO, &os_error);
        if (result == CURLE_COULDNT_CONNECT && os_error != 0) return failed(q, errno_text(static_cast<int>(os_error)));
        failed(q, lower_first(q.error[0] ? q.error : q.curl->easy_strerror(result)));
      });
      if (started) failed(p, *started);
#endif
      return;
    }
  }
}

bool ProbeSet::exec_ended(pid_t pid, int status) {
  for (auto& p : probes_) {
    if (!p->exec_pid || *p->exec_pid != pid) continue;
    p->exec_pid.reset();
    if (stopped_) return true;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) succeeded(*p);
    else failed(*p, wait_status_text(status));
    return true;
  }
  return false;
}

void ProbeSet::succeeded(Probe& p) {
  p.report.ready = true;
  p.report.ready_after_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  loop_.unwatch(p.retry.fd());
  if (hooks_.trace)
    hooks_.trace(fmt::format("probe {} ready after {:.3f}s ({} attempt{})", p.report.probe,
                             *p.report.ready_after_seconds, p.report.attempts, p.report.attempts == 1 ? "" : "s"));
  if (ready()) stop();
}

void ProbeSet::failed(Probe& p, std::string why) {
  if (hooks_.trace && (!p.report.last_error || *p.report.last_error != why))
    hooks_.trace(fmt::format("probe {} not ready: {}; trying again every {} up to {}", p.report.probe, why,
                             format_duration(p.interval), format_duration(kLongestInterval)));
  p.report.last_error = std::move(why);
  if (stopped_) return;
  p.retry.arm(p.interval);
  p.interval = std::min(p.interval * 2, kLongestInterval);
}

void ProbeSet::stop() {
  if (stopped_) return;
  stopped_ = true;
  loop_.unwatch(impl_->limit.fd());
  impl_->limit.disarm();
  for (auto& p : probes_) {
    loop_.unwatch(p->retry.fd());
#if CTXRUN_HAVE_CURL
    if (p->easy && impl_->curl) impl_->curl->cancel(p->easy);
#endif
    if (p->tcp) p->tcp->cancel();
  }
  // The driver itself stays until the set goes (stop() may run inside one of its callbacks); with no
  // transfer left it watches no socket, and its timer is disarmed.
}

bool ProbeSet::ready() const {
  for (const auto& p : probes_)
    if (!p->report.ready) return false;
  return true;
}

std::optional<std::string> ProbeSet::expired() const {
  if (!expired_) return std::nullopt;
  for (const auto& p : probes_)
    if (!p->report.ready)
      return fmt::format("ready timeout {}: {} ({})", limit_text_, p->report.probe,
                         p->report.last_error ? *p->report.last_error : "no answer yet");
  return std::nullopt;
}

std::vector<ProbeReport> ProbeSet::reports() const {
  std::vector<ProbeReport> out;
  out.reserve(probes_.size());
  for (const auto& p : probes_) out.push_back(p->report);
  return out;
}

}  // namespace ctxrun
