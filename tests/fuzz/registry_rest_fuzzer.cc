// Fuzz target for the registry's REST request bodies (docs/registry.md, "REST API"): the JSON
// bodies rest::handle_request parses (schema bodies with references, mode bodies) and the
// paths they arrive on. Any request must get a response, never a crash or an exception, and
// every response with the registry's JSON content type must hold valid JSON.
//
// Input: "<METHOD> <path>[?query]\n<body>"; when the first line is not of that form, the
// whole input is the body of POST /subjects/fuzz/versions. The store is a real LMDB
// SchemaStore in a temporary directory, opened once per process (so registrations made by
// one input are seen by the next, as on a real server). Built as a libFuzzer target with
// Clang (-DCAUSEWAY_BUILD_FUZZERS=ON) and, always, linked with corpus_driver.cc so that
// ctest replays corpus/registry_rest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "causeway/registry/store.h"
#include "schema-registry/src/rest_api.h"

namespace {

using namespace causeway::registry;

class FuzzStore {
 public:
  FuzzStore() {
    char tmpl[] = "/tmp/causeway-rest-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    dir_ = tmpl;
    StoreOptions options;
    options.dir = dir_;
    options.initial_map_bytes = 1ull << 20;
    options.max_map_bytes = 64ull << 20;
    auto store = SchemaStore::open(options);
    if (!store) std::abort();
    store_ = std::move(*store);
  }
  ~FuzzStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SchemaStore& store() { return *store_; }

 private:
  std::string dir_;
  std::unique_ptr<SchemaStore> store_;
};

rest::Request make_request(std::string_view in) {
  rest::Request req;
  req.content_type = "application/json";
  const auto nl = in.find('\n');
  const std::string_view first = in.substr(0, nl);
  const auto space = first.find(' ');
  const std::string_view method = first.substr(0, space);
  if (nl == std::string_view::npos || space == std::string_view::npos ||
      !(method == "GET" || method == "POST" || method == "PUT" || method == "DELETE") ||
      first.substr(space + 1).empty() || first[space + 1] != '/') {
    req.method = "POST";
    req.path = "/subjects/fuzz/versions";
    req.body = std::string(in);
    return req;
  }
  req.method = std::string(method);
  std::string_view target = first.substr(space + 1);
  const auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view kv = query.substr(0, amp);
      const auto eq = kv.find('=');
      req.params.emplace(std::string(kv.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1)));
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  req.body = std::string(in.substr(nl + 1));
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FuzzStore store;
  const rest::Request req = make_request(std::string_view(reinterpret_cast<const char*>(data), size));
  const rest::Response res = rest::handle_request(store.store(), req);
  if (res.status < 200 || res.status > 599) std::abort();
  if (res.content_type == rest::kContentType) {
    if (nlohmann::json::parse(res.body, nullptr, false).is_discarded()) std::abort();
  }
  return 0;
}
