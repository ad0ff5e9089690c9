// File: causeway/common/units.h
//
// Parsing of human-written durations and sizes for flags and config files, e.g. "250ms",
// "2m", "7d", "1h30m", "512MiB", "10GB", "4096". Errors name the text and say what was
// expected. Sizes: B, KB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB (powers of 1024),
// case-insensitive units, no fractions. Durations: ns, us, ms, s, m, h, d, composable
// ("1h30m"); a bare number is rejected, because "30" could mean seconds or milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "causeway/common/status.h"

namespace causeway::units {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text);
Result<uint64_t> parse_size(std::string_view text);

// Inverse for logs and docs: "2m", "7d", "1h30m", "250ms".
std::string format_duration(std::chrono::nanoseconds d);
// "512MiB", "10GB", "4096B": the largest exact unit.
std::string format_size(uint64_t bytes);

}  // namespace causeway::units
