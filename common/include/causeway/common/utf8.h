// File: causeway/common/utf8.h
//
// UTF-8 validation for text that crosses a boundary: subject names in the registry, event
// text shown as JSON by the CLI, keys and headers that patterns read as strings. Valid
// means RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no truncated sequence. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace causeway::utf8 {

// True when `bytes` is well-formed UTF-8 (the empty string is).
bool is_valid(std::string_view bytes) noexcept;

// Byte offset of the first byte that does not start a well-formed sequence, or
// bytes.size() when all of it is valid. For error messages that point at the bad byte.
std::size_t first_invalid(std::string_view bytes) noexcept;

}  // namespace causeway::utf8
