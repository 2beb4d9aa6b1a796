// The error convention of ctxrun, library and tool alike (docs/design.md, "Errors"):
//
//  - A function that can fail returns Result<T>: the value, or why not as one line of text, ready to
//    print after "ctxrun: " (no trailing newline, no "ctxrun: " of its own). A caller that must tell
//    failures apart gets a typed error instead: Result<T, E> (spawn's SpawnFailure).
//  - An action with no value returns Status: std::nullopt when done, else why not.
//  - The thin wrappers of system calls (proc.cpp, the cgroup files, Timer) keep the kernel's own
//    convention, -1 or nullopt with errno set, and the layer above turns errno into a Result.
//  - Exceptions only where C++ itself would throw: allocation, and a Context whose descriptors
//    cannot be made (context.h: like bad_alloc, a resource that ran out). run(), run_command() and
//    everything in the process layer are noexcept; the tool's main has a last-resort catch.
#pragma once

#include <optional>
#include <string>
#include <variant>

namespace ctxrun {

template <typename T, typename E = std::string>
using Result = std::variant<T, E>;

using Status = std::optional<std::string>;

}  // namespace ctxrun
