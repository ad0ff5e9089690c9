// File: causeway/daemon_log/daemon_log.h
//
// How the daemons (causeway-broker, causeway-registry) write their log, through spdlog
// (docs/operations.md, "Logs"): `--log-format text` (the default) writes lines for people,
// `2026-12-05T10:00:00.123 info message`; `--log-format json` writes one JSON object per
// line for machines, {"time":"2026-12-05T10:00:00.123Z","level":"info","msg":"..."}, the
// time in UTC and the message escaped as a JSON string (invalid UTF-8 replaced), so that
// whatever a message quotes (a client's topic name, an endpoint's answer) cannot break a
// line or forge a field. A separate library so that causeway::common, which the installed
// client links, needs no spdlog.
#pragma once

#include <string_view>

#include "causeway/common/status.h"

namespace causeway::daemon_log {

enum class Format { kText, kJson };

// "text" or "json"; kInvalidArgument naming both.
Result<Format> parse_format(std::string_view text);

// Sets the default logger's format and level ("trace", "debug", "info", "warn", "error",
// "off"; the daemons check it with their flag).
void configure(Format format, std::string_view level);

}  // namespace causeway::daemon_log
