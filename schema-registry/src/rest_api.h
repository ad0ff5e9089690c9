// File: schema-registry/src/rest_api.h
//
// The registry's REST API as a pure function from a request to a response, over a
// SchemaStore: paths, bodies and error codes of Confluent Schema Registry with schemaType
// "FLATBUFFERS" and a "rootType" field. The HTTP transport (cpp-httplib) is server.cc's job;
// keeping it out of here keeps the mapping testable and httplib in one file. Contract:
// docs/registry.md ("REST API", "Error codes").
//
// Thread-safety: handle_request may run on many threads at once (the store is thread-safe).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "causeway/registry/access.h"
#include "causeway/registry/store.h"

namespace causeway::registry::rest {

inline constexpr const char* kContentType = "application/vnd.schemaregistry.v1+json";

struct Request {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  // As sent (percent-encoded), without the query string: segments are split on '/' first
  // and decoded after, so a subject may contain an encoded '/' (%2F).
  std::string path;
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::string content_type;                        // empty when absent
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = kContentType;
  std::string body;
  // A schema found incompatible, for metrics: "register" (a registration refused, 409) or
  // "check" (a compatibility check that answered false); empty otherwise.
  std::string_view incompatible{};
};

// {"error_code": code, "message": message} with the code's HTTP status.
Response error_response(ErrorCode code, const std::string& message);

// Never throws: an unexpected exception inside becomes a 500 with error_code 50001.
// Answers never fail to serialise (request text that is not UTF-8 is echoed as U+FFFD).
// `access`: what the request's principal may do (null: everything); what it may not is
// answered 403 (error_code 40301) before the store is read, and lists leave out the subjects
// it may not read.
Response handle_request(SchemaStore& store, const Request& request, const Access* access = nullptr);

}  // namespace causeway::registry::rest
