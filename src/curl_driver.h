// CurlDriver: libcurl's multi interface driven from the runner's EventLoop (no thread, no poll of
// its own). libcurl says which sockets to wait on and when its next timeout is; the driver watches
// those sockets and a timerfd in the loop and hands each event back to curl_multi_socket_action.
//
// Passive, like the loop: transfers run only while the owner waits in the loop. Only built with
// libcurl (CTXRUN_HAVE_CURL).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "ctxrun/result.h"
#include "curl_api.h"
#include "event_loop.h"
#include "timer.h"

namespace ctxrun {

class CurlDriver {
 public:
  using OnDone = std::function<void(CURLcode)>;

  // The driver for `loop`, which must outlive it.
  static Result<std::unique_ptr<CurlDriver>> make(EventLoop& loop);
  // Aborts what is running and stops watching anything.
  ~CurlDriver();
  CurlDriver(const CurlDriver&) = delete;
  CurlDriver& operator=(const CurlDriver&) = delete;

  // Starts `easy`'s transfer (set up by the caller, who keeps it); `on_done` hears how it ended,
  // from within the loop. The same handle may be started again once it is done.
  Status start(CURL* easy, OnDone on_done);
  // Stops a transfer that is running; its on_done is not called.
  void cancel(CURL* easy);

 private:
  CurlDriver(EventLoop& loop, const CurlApi& api) : loop_(loop), api_(api) {}
  static int on_socket(CURL* easy, curl_socket_t s, int what, void* self, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void act(curl_socket_t s, int flags);
  void collect_done();

  EventLoop& loop_;
  const CurlApi& api_;
  CURLM* multi_ = nullptr;
  Timer timer_;                      // libcurl's next timeout
  std::set<curl_socket_t> sockets_;  // watched in the loop
  std::map<CURL*, OnDone> running_;
};

}  // namespace ctxrun
