// File: subscribe/http_post.h
//
// One POST of an event to a subscription's HTTP target (docs/targets.md, "HTTP targets"),
// shared by the target's forwarder (http_forwarder.cc) and its replays (replays.cc): the
// request's headers, reading the answer within bounds, and what the answer means.
// Private to the coordinator.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "causeway/common/batch_format.h"
#include "meta/meta_store.h"
#include "rules/input_transform.h"
#include "subscribe/http_target.h"

namespace causeway::subscribe {

struct HttpEventPost {
  std::string topic;
  uint32_t partition = 0;
  uint64_t offset = 0;
  uint64_t lamport = 0;
  uint32_t attempt = 1;
  std::vector<std::pair<std::string, std::string>> trace;  // W3C trace context, passed on
  std::string idempotency_key;
  std::string replay;  // the replay's name (Causeway-Replay), empty for live events
  std::string body;
};

// A worker's keep-alive client: timeouts, no Nagle, no redirects, certificates checked.
void configure_http_client(httplib::Client& client, std::chrono::milliseconds timeout);

// The event's traceparent/tracestate headers that may be passed on: event bytes are
// untrusted, and a value that could break the request's header block is not.
std::vector<std::pair<std::string, std::string>> trace_headers(const batch::RecordView& record);

// application/json, or text for an input template that makes text.
std::string_view http_content_type(const rules::InputTransform* transform);

// Sends `post` and judges the answer (judge_http_answer); a Retry-After is capped at the
// subscription's max backoff. `display` is the endpoint's URL for messages.
HttpVerdict post_event(httplib::Client& client, const HttpEndpoint& endpoint, std::string_view display,
                       const meta::SubscriptionConfig& config, std::string_view content_type, HttpEventPost post);

}  // namespace causeway::subscribe
