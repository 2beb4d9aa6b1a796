#include "curl_driver.h"

#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ctxrun {

Result<std::unique_ptr<CurlDriver>> CurlDriver::make(EventLoop& loop) {
  auto api = curl_api();  // loads libcurl and runs curl_global_init, once
  if (auto* error = std::get_if<std::string>(&api)) return *error;
  std::unique_ptr<CurlDriver> driver(new CurlDriver(loop, *std::get<const CurlApi*>(api)));
  if (!driver->timer_.ok()) return fmt::format("cannot create a timer: {}", std::strerror(driver->timer_.error()));
  driver->multi_ = driver->api_.multi_init();
  if (!driver->multi_) return std::string("cannot initialise libcurl's multi interface");
  CURLM* multi = driver->multi_;
  driver->api_.multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &CurlDriver::on_socket);
  driver->api_.multi_setopt(multi, CURLMOPT_SOCKETDATA, driver.get());
  driver->api_.multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &CurlDriver::on_timer);
  driver->api_.multi_setopt(multi, CURLMOPT_TIMERDATA, driver.get());
  CurlDriver* self = driver.get();
  loop.watch(driver->timer_.fd(), POLLIN, [self](short) {
    if (self->timer_.fired()) self->act(CURL_SOCKET_TIMEOUT, 0);
  });
  return driver;
}

CurlDriver::~CurlDriver() {
  loop_.unwatch(timer_.fd());
  for (auto& [easy, on_done] : running_) api_.multi_remove_handle(multi_, easy);
  for (curl_socket_t s : sockets_) loop_.unwatch(s);
  if (multi_) api_.multi_cleanup(multi_);
}

Status CurlDriver::start(CURL* easy, OnDone on_done) {
  running_[easy] = std::move(on_done);
  if (CURLMcode code = api_.multi_add_handle(multi_, easy); code != CURLM_OK) {
    running_.erase(easy);
    return fmt::format("libcurl: {}", api_.multi_strerror(code));
  }
  return std::nullopt;  // libcurl asks for its first timeout (on_timer) from within add_handle
}

void CurlDriver::cancel(CURL* easy) {
  if (running_.erase(easy)) api_.multi_remove_handle(multi_, easy);
}

int CurlDriver::on_socket(CURL*, curl_socket_t s, int what, void* self_ptr, void*) {
  auto* self = static_cast<CurlDriver*>(self_ptr);
  if (what == CURL_POLL_REMOVE) {
    self->loop_.unwatch(s);
    self->sockets_.erase(s);
    return 0;
  }
  short events = static_cast<short>(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
  self->sockets_.insert(s);
  self->loop_.watch(s, events, [self, s](short revents) {
    int flags = ((revents & POLLIN) ? CURL_CSELECT_IN : 0) | ((revents & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                ((revents & (POLLERR | POLLHUP | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
    self->act(s, flags);
  });
  return 0;
}

int CurlDriver::on_timer(CURLM*, long timeout_ms, void* self_ptr) {
  auto* self = static_cast<CurlDriver*>(self_ptr);
  // -1: no timeout; 0: at once (through the loop: libcurl must not be re-entered from here).
  if (timeout_ms < 0) self->timer_.disarm();
  else self->timer_.arm(std::chrono::milliseconds(timeout_ms));
  return 0;
}

void CurlDriver::act(curl_socket_t s, int flags) {
  int still_running = 0;
  api_.multi_socket_action(multi_, s, flags, &still_running);
  collect_done();
}

void CurlDriver::collect_done() {
  std::vector<std::pair<OnDone, CURLcode>> done;
  int left = 0;
  while (CURLMsg* msg = api_.multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    api_.multi_remove_handle(multi_, easy);
    auto it = running_.find(easy);
    if (it == running_.end()) continue;
    done.emplace_back(std::move(it->second), result);
    running_.erase(it);
  }
  // After the loop over libcurl's messages: a callback may start its handle again.
  for (auto& [on_done, result] : done) on_done(result);
}

}  // namespace ctxrun
