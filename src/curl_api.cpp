#include "curl_api.h"

#include <dlfcn.h>

#include <type_traits>

#include <fmt/format.h>

namespace ctxrun {
namespace {

Result<const CurlApi*> load() {
  // RTLD_LOCAL: libcurl's symbols stay out of the global namespace; the handle is kept for the
  // process's life (libcurl must not be unloaded under its own threads, such as the resolver's).
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fmt::format("cannot load libcurl: {} (install libcurl4)", dlerror());
  static CurlApi api;
  bool missing = false;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    missing |= fn == nullptr;
  };
  bind(api.global_init, "curl_global_init");
  bind(api.easy_init, "curl_easy_init");
  bind(api.easy_setopt, "curl_easy_setopt");
  bind(api.easy_getinfo, "curl_easy_getinfo");
  bind(api.easy_cleanup, "curl_easy_cleanup");
  bind(api.easy_strerror, "curl_easy_strerror");
  bind(api.multi_init, "curl_multi_init");
  bind(api.multi_setopt, "curl_multi_setopt");
  bind(api.multi_add_handle, "curl_multi_add_handle");
  bind(api.multi_remove_handle, "curl_multi_remove_handle");
  bind(api.multi_socket_action, "curl_multi_socket_action");
  bind(api.multi_info_read, "curl_multi_info_read");
  bind(api.multi_cleanup, "curl_multi_cleanup");
  bind(api.multi_strerror, "curl_multi_strerror");
  bind(api.url, "curl_url");
  bind(api.url_set, "curl_url_set");
  bind(api.url_cleanup, "curl_url_cleanup");
  bind(api.url_strerror, "curl_url_strerror");
  if (missing) return std::string("the libcurl found is too old (ctxrun needs 7.80 or later)");
  if (CURLcode code = api.global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK)
    return fmt::format("cannot initialise libcurl: {}", api.easy_strerror(code));
  return &api;
}

}  // namespace

Result<const CurlApi*> curl_api() {
  static const Result<const CurlApi*> loaded = load();
  return loaded;
}

}  // namespace ctxrun
