// TcpConnect: tcp:// probes without libcurl (a build without it, or where it cannot be loaded). A
// non-blocking connect to each address in turn, driven from the runner's EventLoop. Only numeric
// addresses and `localhost` (::1, then 127.0.0.1): without libcurl's resolver ctxrun has no
// resolver that cannot block the loop, and a static glibc cannot load NSS modules in an empty root.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ctxrun/result.h"
#include "ctxrun/unique_fd.h"
#include "event_loop.h"
#include "timer.h"

namespace ctxrun {

struct TcpAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// The addresses of "HOST:PORT" (HOST numeric, [IPv6], or localhost), or why not.
Result<std::vector<TcpAddress>> numeric_addresses(std::string_view host_port);

class TcpConnect {
 public:
  // `on_done` hears nullopt once one address took the connection, else the last address's error,
  // or that the attempt took longer than `limit` (a server whose backlog is full, or a firewall
  // that drops the SYN, would otherwise hold one attempt for the kernel's minutes of SYN retries).
  // Check ok(): the limit's timer may not have been made.
  TcpConnect(EventLoop& loop, std::vector<TcpAddress> addresses, std::chrono::milliseconds limit,
             std::function<void(Status)> on_done)
      : loop_(loop), addresses_(std::move(addresses)), limit_(limit), on_done_(std::move(on_done)) {}
  ~TcpConnect() { cancel(); }
  TcpConnect(const TcpConnect&) = delete;
  TcpConnect& operator=(const TcpConnect&) = delete;

  bool ok() const noexcept { return timer_.ok(); }
  int error() const noexcept { return timer_.error(); }

  // Starts an attempt (from the first address); on_done may be called before it returns.
  void start();
  void cancel();

 private:
  void next();
  void finish(Status result);
  void drop_socket();

  EventLoop& loop_;
  std::vector<TcpAddress> addresses_;
  std::chrono::milliseconds limit_;
  Timer timer_;  // the attempt's limit
  std::function<void(Status)> on_done_;
  std::size_t at_ = 0;
  unique_fd socket_;
  std::string last_error_;
};

}  // namespace ctxrun
