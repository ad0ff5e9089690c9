// File: client/cli/publish_command.cc
//
// See publish_command.h. Why "every line is attempted" rather than "stop at the first bad
// line": the broker answers each event of a batch on its own, so a run can only promise
// that nothing after a refused line is stored by never having a later line in flight while
// an earlier one may still be refused, i.e. by publishing one line per round trip. That
// costs the batching and pipelining that make publish fast, and still could not tell the
// user which lines were stored. Naming every line's outcome lets a re-run resume exactly.
#include "client/cli/publish_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>

#include "causeway/client/admin.h"
#include "causeway/client/publisher.h"
#include "causeway/client/registry_client.h"
#include "client/cli/cli_args.h"
#include "client/cli/cli_errors.h"
#include "client/cli/event_json.h"
#include "client/cli/payload_codec.h"

namespace causeway::cli {
namespace {

using client::PublishAck;

// At most this many lines are in flight (or waiting to be printed) at a time.
constexpr std::size_t kMaxPending = 10000;
// Failures named one by one on stderr; the rest are only on stdout and in the summary.
constexpr std::size_t kMaxFailuresOnStderr = 10;
constexpr std::size_t kMaxLinesInSummary = 20;

// One input line's outcome: a publish in progress, or a failure found before sending.
struct PendingLine {
  std::size_t line = 0;
  std::optional<std::future<Result<PublishAck>>> ack;
  Status refused;
};

class Reporter {
 public:
  Reporter(std::string topic, std::string registry_url) : topic_(std::move(topic)), registry_url_(std::move(registry_url)) {}

  void stored(std::size_t line, const PublishAck& ack) {
    nlohmann::json j = ack_to_json(ack);
    j["line"] = line;
    std::cout << to_line(j) << "\n";
    ++stored_;
  }

  void failed(std::size_t line, const Status& status) {
    nlohmann::json j{{"line", line}, {"error", std::string(status.message())}, {"code", std::string(code_name(status.code()))}};
    if (status.reason() != Reason::kNone) j["reason"] = reason_name(status.reason());
    std::cout << to_line(j) << "\n";
    if (failed_lines_.size() < kMaxLinesInSummary) failed_lines_.push_back(line);
    if (++failed_ <= kMaxFailuresOnStderr) {
      const std::string hint = is_registry_failure(status) ? registry_hint(status, registry_url_) : broker_hint(status);
      std::cerr << "causeway: publish to " << topic_ << ": line " << line << ": " << status.message() << hint << "\n";
    }
  }

  // The exit code, after the summary when something failed.
  int finish(const std::string& file) const {
    std::cout.flush();
    if (failed_ == 0) return 0;
    if (failed_ > kMaxFailuresOnStderr) {
      std::cerr << "causeway: publish to " << topic_ << ": " << failed_ - kMaxFailuresOnStderr
                << " more failed line(s) not shown here; every line's outcome is on stdout (\"line\", \"error\")\n";
    }
    std::string lines;
    for (std::size_t l : failed_lines_) {
      if (!lines.empty()) lines += ',';  // appended: `"," + std::to_string(l)` trips GCC 12's -Wrestrict
      lines += std::to_string(l);
    }
    if (failed_ > failed_lines_.size()) lines += ",...";
    if (stored_ == 0) {
      // Nothing stored: running the whole input again once fixed stores nothing twice.
      std::cerr << "causeway: publish to " << topic_ << ": " << failed_ << " line(s) failed (line " << lines
                << "), none stored; fix them and publish again\n";
      return 1;
    }
    const std::string source = file.empty() || file == "-" ? std::string("INPUT") : file;
    std::cerr << "causeway: publish to " << topic_ << ": " << failed_ << " line(s) failed (line " << lines << "), "
              << stored_ << " stored. Every line is attempted, so publish only the failed lines again once fixed "
              << "(e.g. sed -n '" << failed_lines_.front() << "p' " << source << " | causeway publish " << topic_
              << "); re-publishing the whole input stores the other lines twice unless they carry a dedup_key\n";
    return 1;
  }

 private:
  std::string topic_;
  std::string registry_url_;
  std::size_t stored_ = 0;
  std::size_t failed_ = 0;
  std::vector<std::size_t> failed_lines_;
};

// For a topic bound to a schema subject: the codec of the subject's version `version`
// (client::kLatestVersion: the latest).
Result<std::unique_ptr<PayloadCodec>> topic_codec(client::RegistryClient& registry, const std::string& subject,
                                                  int version) {
  auto v = registry.get_version(subject, version);
  if (!v) return v.error();
  return PayloadCodec::create(v->schema, &registry);
}

}  // namespace

int run_publish(const client::ClientOptions& options, const std::string& registry_url, const PublishArgs& args) {
  const std::string& topic = args.topic;
  const std::string what = "publish to " + topic;
  // The topic's binding decides whether "data" may be a JSON object, and its partition
  // count which explicit "partition" values exist, so look it up first.
  std::string subject;
  uint32_t partitions = 0;
  {
    auto admin = client::Admin::connect(options);
    if (!admin) return fail(what, admin.error());
    auto info = (*admin)->describe_topic(topic);
    if (!info) return fail(what, info.error());
    subject = info->spec.schema_subject;
    partitions = info->spec.partitions;
  }
  if (subject.empty() && args.schema_version != 0) {
    return fail(what, invalid_argument("--schema-version needs a topic bound to a schema subject; topic '" + topic +
                                       "' is not (topic create --schema-subject SUBJECT)"));
  }
  // The schema is fetched once, when the first "data" object needs it (at once with
  // --schema-version), so lines with string data, already encoded by the producer, publish
  // as before even when the registry cannot be reached.
  std::unique_ptr<client::RegistryClient> registry;
  std::unique_ptr<PayloadCodec> codec;
  Status codec_unavailable;  // the registry could not be reached: every later line fails the same way at once
  DataObjectEncoder encoder;
  if (!subject.empty()) {
    auto r = client::RegistryClient::create(registry_client_options(registry_url));
    if (!r) return fail_registry("--registry", r.error(), registry_url);
    registry = std::move(*r);
    const int version = args.schema_version == 0 ? client::kLatestVersion : args.schema_version;
    const std::string which = "schema subject " + subject + " version " +
                              (args.schema_version == 0 ? std::string("latest") : std::to_string(args.schema_version));
    if (args.schema_version != 0) {
      auto c = topic_codec(*registry, subject, version);
      if (!c) return fail_registry(what + ": " + which, c.error(), registry_url);
      codec = std::move(*c);
    }
    encoder = [&codec, &registry, &codec_unavailable, subject, version,
               which](const nlohmann::json& data) -> Result<EncodedData> {
      if (!codec) {
        if (!codec_unavailable.ok()) return codec_unavailable;
        auto c = topic_codec(*registry, subject, version);
        if (!c) {
          Status s = c.error().with_context(which);
          if (s.code() == Code::kUnavailable) codec_unavailable = s;
          return s;
        }
        codec = std::move(*c);
      }
      auto payload = codec->encode(data);
      if (!payload) return payload.error();
      return EncodedData{std::move(*payload), static_cast<uint32_t>(codec->schema_id())};
    };
  }

  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (!args.file.empty() && args.file != "-") {
    in_file.open(args.file);
    if (!in_file) {
      std::cerr << "causeway: cannot open " << args.file << ": " << std::strerror(errno) << "\n";
      return 1;
    }
    in = &in_file;
  } else if (::isatty(STDIN_FILENO) == 1) {
    // A user who typed `causeway publish T` alone would otherwise face a silent wait.
    std::cerr << "causeway: reading events from the terminal, one JSON object per line (e.g. {\"data\":\"hello\"}); "
                 "Ctrl-D ends the input\n";
  }
  client::PublisherOptions publisher_options;
  publisher_options.linger = std::chrono::milliseconds(5);
  auto publisher = client::Publisher::connect(options, publisher_options);
  if (!publisher) return fail(what, publisher.error());

  Reporter report(topic, registry_url);
  std::deque<PendingLine> pending;
  const auto settle_front = [&] {
    PendingLine front = std::move(pending.front());
    pending.pop_front();
    if (!front.ack) {
      report.failed(front.line, front.refused);
      return;
    }
    Result<PublishAck> ack = front.ack->get();
    if (ack) {
      report.stored(front.line, *ack);
    } else {
      report.failed(front.line, ack.error());
    }
  };
  const auto is_ready = [](const PendingLine& p) {
    return !p.ack || p.ack->wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  };
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    PendingLine p{line_no, std::nullopt, Status()};
    auto event = parse_event_line(line, encoder);
    if (!event) {
      p.refused = event.error();
    } else if (event->partition >= 0 && static_cast<uint32_t>(event->partition) >= partitions) {
      p.refused = invalid_argument("\"partition\" " + std::to_string(event->partition) + " does not exist: topic " +
                                   topic + " has " + std::to_string(partitions) + " partition(s), 0 to " +
                                   std::to_string(partitions - 1) + " (-1 or no \"partition\": chosen by key)");
    } else {
      p.ack = (*publisher)->publish(topic, std::move(*event));
    }
    pending.push_back(std::move(p));
    while (!pending.empty() && (pending.size() > kMaxPending || is_ready(pending.front()))) settle_front();
  }
  static_cast<void>((*publisher)->flush(options.request_timeout));
  while (!pending.empty()) settle_front();
  static_cast<void>((*publisher)->close());
  if (in->bad()) {
    std::cerr << "causeway: reading input failed after line " << line_no << ": " << std::strerror(errno) << "\n";
    report.finish(args.file);
    return 1;
  }
  return report.finish(args.file);
}

}  // namespace causeway::cli
