#pragma once
namespace ctxrun {
inline constexpr const char* kVersion = "0.1.0";
}
