// CurlApi: the libcurl functions ctxrun uses, loaded with dlopen("libcurl.so.4") the first time a
// probe needs them. Linked at build time, libcurl and the ~30 libraries it needs (TLS, HTTP/2, IDN,
// LDAP, Kerberos...) were loaded and relocated at every start: 9 M of a plain run's 10 M
// instructions went to the dynamic loader's symbol lookup (callgrind, docs/benchmarks.md), for a
// feature most runs never use. The headers are still libcurl's own, so the types are checked.
//
// Only built with CTXRUN_CURL (never in a fully static build, where dlopen cannot work).
#pragma once

#define CURL_DISABLE_TYPECHECK 1  // the calls go through the pointers below, not libcurl's macros
#include <curl/curl.h>

#include "ctxrun/result.h"

namespace ctxrun {

struct CurlApi {
  decltype(&curl_global_init) global_init;
  decltype(&curl_easy_init) easy_init;
  decltype(&curl_easy_setopt) easy_setopt;
  decltype(&curl_easy_getinfo) easy_getinfo;
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_multi_init) multi_init;
  decltype(&curl_multi_setopt) multi_setopt;
  decltype(&curl_multi_add_handle) multi_add_handle;
  decltype(&curl_multi_remove_handle) multi_remove_handle;
  decltype(&curl_multi_socket_action) multi_socket_action;
  decltype(&curl_multi_info_read) multi_info_read;
  decltype(&curl_multi_cleanup) multi_cleanup;
  decltype(&curl_multi_strerror) multi_strerror;
  decltype(&curl_url) url;
  decltype(&curl_url_set) url_set;
  decltype(&curl_url_cleanup) url_cleanup;
  decltype(&curl_url_strerror) url_strerror;
};

// libcurl's functions, loaded (and curl_global_init run) on the first call; later calls give the
// same answer. On failure, why: "libcurl.so.4: cannot open shared object file: ..." (install
// libcurl4). Not thread-safe on the first call (curl_global_init is not); run_command is one at a time.
Result<const CurlApi*> curl_api();

}  // namespace ctxrun
