#include "event_loop.h"

#include <algorithm>
#include <cerrno>

namespace ctxrun {

void EventLoop::watch(int fd, short events, Handler on_ready) {
  if (fd < 0) return;
  for (auto& s : sources_)
    if (s.fd == fd) {
      s.events = events;
      s.on_ready = std::move(on_ready);
      s.serial = ++watches_;
      return;
    }
  sources_.push_back({fd, events, std::move(on_ready), ++watches_});
}

bool EventLoop::still_watched(const Source& polled) const {
  return std::any_of(sources_.begin(), sources_.end(),
                     [&](const Source& s) { return s.fd == polled.fd && s.serial == polled.serial; });
}

void EventLoop::unwatch(int fd) {
  std::erase_if(sources_, [fd](const Source& s) { return s.fd == fd; });
}

void EventLoop::wait_once() {
  if (sources_.empty()) return;
  std::vector<pollfd> fds;
  fds.reserve(sources_.size());
  for (const auto& s : sources_) fds.push_back({s.fd, s.events, 0});
  while (::poll(fds.data(), fds.size(), -1) < 0 && errno == EINTR) {}
  // Handlers may change sources_: call copies, of the sources that were polled and are still
  // watched as they were.
  auto polled = sources_;
  for (std::size_t i = 0; i < fds.size(); ++i)
    if (fds[i].revents != 0 && still_watched(polled[i])) polled[i].on_ready(fds[i].revents);
}

}  // namespace ctxrun
