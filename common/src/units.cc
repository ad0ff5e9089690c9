// Duration and size parsing; see causeway/common/units.h.
#include "causeway/common/units.h"

#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace causeway::units {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Reads decimal digits at `pos`; false on none or on overflow of uint64.
bool read_number(std::string_view text, size_t& pos, uint64_t& out) {
  const size_t start = pos;
  uint64_t v = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    const uint64_t d = static_cast<uint64_t>(text[pos] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
    ++pos;
  }
  out = v;
  return pos > start;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) {
  return __builtin_mul_overflow(a, b, &out);
}

std::string quoted(std::string_view text) {
  std::string s = "\"";
  s += text;
  s += "\"";
  return s;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 7> kUnits{{
      {"ns", 1ull},
      {"us", 1000ull},
      {"ms", 1000ull * 1000},
      {"s", 1000ull * 1000 * 1000},
      {"m", 60ull * 1000 * 1000 * 1000},
      {"h", 3600ull * 1000 * 1000 * 1000},
      {"d", 86400ull * 1000 * 1000 * 1000},
  }};
  const auto bad = [&](std::string_view why) {
    return invalid_argument("invalid duration " + quoted(text) + ": " + std::string(why) +
                            " (expected e.g. 250ms, 30s, 2m, 1h30m, 7d)");
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 64) return bad("too long");
  size_t pos = 0;
  uint64_t total = 0;
  while (pos < text.size()) {
    uint64_t n = 0;
    if (!read_number(text, pos, n)) return bad(pos < text.size() ? "expected a number" : "number too large");
    const size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    if (unit.empty()) return bad("missing unit");
    uint64_t scale = 0;
    for (const auto& [name, ns] : kUnits) {
      if (iequals(unit, name)) scale = ns;
    }
    if (scale == 0) return bad("unknown unit \"" + std::string(unit) + "\"");
    uint64_t part = 0;
    if (mul_overflows(n, scale, part) || __builtin_add_overflow(total, part, &total) ||
        total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return bad("too large");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(total));
}

Result<uint64_t> parse_size(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 10> kUnits{{
      {"b", 1ull},
      {"kb", 1000ull},
      {"mb", 1000ull * 1000},
      {"gb", 1000ull * 1000 * 1000},
      {"tb", 1000ull * 1000 * 1000 * 1000},
      {"kib", 1ull << 10},
      {"mib", 1ull << 20},
      {"gib", 1ull << 30},
      {"tib", 1ull << 40},
      {"", 1ull},
  }};
  const auto bad = [&](std::string_view why) {
    return invalid_argument("invalid size " + quoted(text) + ": " + std::string(why) +
                            " (expected e.g. 4096, 64KiB, 512MiB, 10GB)");
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 64) return bad("too long");
  size_t pos = 0;
  uint64_t n = 0;
  if (!read_number(text, pos, n)) return bad(pos < text.size() ? "expected a number" : "number too large");
  std::string_view unit = text.substr(pos);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  for (const auto& [name, scale] : kUnits) {
    if (iequals(unit, name)) {
      uint64_t out = 0;
      if (mul_overflows(n, scale, out)) return bad("too large");
      return out;
    }
  }
  return bad("unknown unit \"" + std::string(unit) + "\"");
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  const auto u = static_cast<uint64_t>(ns);
  constexpr uint64_t kMs = 1000ull * 1000, kS = 1000 * kMs, kM = 60 * kS, kH = 60 * kM, kD = 24 * kH;
  if (u % kS != 0) {
    if (u % kMs == 0) return out + std::to_string(u / kMs) + "ms";
    if (u % 1000 == 0) return out + std::to_string(u / 1000) + "us";
    return out + std::to_string(u) + "ns";
  }
  uint64_t rest = u;
  for (auto [scale, name] : {std::pair{kD, "d"}, std::pair{kH, "h"}, std::pair{kM, "m"}, std::pair{kS, "s"}}) {
    if (rest >= scale) {
      out += std::to_string(rest / scale) + name;
      rest %= scale;
    }
  }
  return out;
}

std::string format_size(uint64_t bytes) {
  if (bytes == 0) return "0B";
  static constexpr std::array<std::pair<uint64_t, std::string_view>, 8> kUnits{{
      {1ull << 40, "TiB"}, {1000ull * 1000 * 1000 * 1000, "TB"}, {1ull << 30, "GiB"},
      {1000ull * 1000 * 1000, "GB"}, {1ull << 20, "MiB"}, {1000ull * 1000, "MB"},
      {1ull << 10, "KiB"}, {1000ull, "KB"},
  }};
  for (const auto& [scale, name] : kUnits) {
    if (bytes % scale == 0) return std::to_string(bytes / scale) + std::string(name);
  }
  return std::to_string(bytes) + "B";
}

}  // namespace causeway::units
