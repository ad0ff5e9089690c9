// RemoteSchemaChecker and its HTTP fetcher (cpp-httplib, nlohmann-json): schema-bound
// topics checked against a remote registry. See remote_schema_checker.h; the REST paths
// are Confluent's (docs/registry.md).
#include "core/remote_schema_checker.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <climits>
#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>

#include "causeway/registry/payload.h"
#include "causeway/registry/schema.h"

namespace causeway::core {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Appended, not `"\"" + std::string(s)`: GCC 12's -Wrestrict false positive in Release.
std::string quoted(std::string_view s) { return std::string("\"").append(s).append("\""); }

// At most this much of an unexpected body goes into an error message.
std::string excerpt(const std::string& body) { return body.size() <= 200 ? body : body.substr(0, 200) + "..."; }

// Percent-encodes a subject for a path segment (a subject may hold '/', '?', spaces...).
std::string encode_segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// `references` of a schema answer, each member's type checked (a registry's JSON is not
// ours to trust: json::value() would throw on a field of another type).
Result<std::vector<registry::SchemaReference>> references_of(const json& j, const std::string& what) {
  std::vector<registry::SchemaReference> out;
  const auto it = j.find("references");
  if (it == j.end() || it->is_null()) return out;
  const auto malformed = [&] {
    return unavailable(what + ": expected \"references\": [{\"name\": ..., \"subject\": ..., \"version\": N}]");
  };
  if (!it->is_array()) return malformed();
  for (const json& r : *it) {
    if (!r.is_object()) return malformed();
    const auto name = r.find("name");
    const auto subject = r.find("subject");
    const auto version = r.find("version");
    if (name == r.end() || !name->is_string() || subject == r.end() || !subject->is_string() ||
        version == r.end() || !version->is_number_integer() || version->get<int64_t>() < 1 ||
        version->get<int64_t>() > INT32_MAX)
      return malformed();
    out.push_back({name->get<std::string>(), subject->get<std::string>(), static_cast<int>(version->get<int64_t>())});
  }
  return out;
}

class HttpSchemaFetcher final : public SchemaFetcher {
 public:
  explicit HttpSchemaFetcher(HttpFetcherOptions o) : options_(std::move(o)) {}
  const std::string& url() const override { return options_.url; }

  Result<RemoteSchema> fetch(uint32_t schema_id) override {
    // One client per fetch: fetches run on several threads and httplib::Client is not
    // thread-safe; a lookup every few seconds per id does not need a kept-alive connection.
    httplib::Client http(options_.url);
    const auto set = [](auto fn, std::chrono::milliseconds t) {
      fn(static_cast<time_t>(t.count() / 1000), static_cast<time_t>((t.count() % 1000) * 1000));
    };
    const auto deadline = Clock::now() + options_.lookup_deadline;
    const httplib::Headers headers = {{"Accept", "application/vnd.schemaregistry.v1+json, application/json"}};
    const std::string base = "/schemas/ids/" + std::to_string(schema_id);

    // kNotFound when the registry answers 404 with one of Confluent's "not found" codes
    // (40401 subject, 40402 version, 40403 schema), with its message.
    auto get = [&](const std::string& path) -> Result<json> {
      // cpp-httplib's timeouts are per connect and per receive; the deadline bounds the
      // whole lookup, and the size cap the body (both checked as the body arrives).
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0)
        return unavailable("GET " + path + ": the lookup took longer than " +
                           std::to_string(options_.lookup_deadline.count()) + " ms");
      set([&](time_t s, time_t us) { http.set_connection_timeout(s, us); }, std::min(options_.connect_timeout, left));
      set([&](time_t s, time_t us) { http.set_read_timeout(s, us); }, std::min(options_.io_timeout, left));
      set([&](time_t s, time_t us) { http.set_write_timeout(s, us); }, std::min(options_.io_timeout, left));
      std::string received;
      bool too_large = false;
      bool too_slow = false;
      httplib::Result r = http.Get(
          path, headers, [](const httplib::Response&) { return true; },
          [&](const char* data, size_t n) {
            if (n > options_.max_body_bytes - received.size()) {
              too_large = true;
              return false;
            }
            if (Clock::now() > deadline) {
              too_slow = true;
              return false;
            }
            received.append(data, n);
            return true;
          });
      if (too_large)
        return unavailable("GET " + path + ": the answer is larger than " + std::to_string(options_.max_body_bytes) +
                           " bytes");
      if (too_slow || (!r && Clock::now() > deadline))
        return unavailable("GET " + path + ": no complete answer within the " +
                           std::to_string(options_.lookup_deadline.count()) + " ms lookup deadline");
      if (!r)
        return unavailable("GET " + path + ": " +
                           (r.error() == httplib::Error::Connection ? std::string("connection refused or timed out")
                                                                    : httplib::to_string(r.error())));
      json body = json::parse(received, nullptr, /*allow_exceptions=*/false);
      // Types checked explicitly: json::value() throws type_error on a field of another
      // type, and a registry's answer is not ours to trust.
      if (r->status == 404 && body.is_object()) {
        const auto code = body.find("error_code");
        const auto message = body.find("message");
        if (code != body.end() && code->is_number_integer() && code->get<int64_t>() >= 40401 &&
            code->get<int64_t>() <= 40403)
          return Status(Code::kNotFound, static_cast<Reason>(code->get<int64_t>()),
                        (message != body.end() && message->is_string() ? message->get<std::string>()
                                                                       : std::string("not found")) +
                            " (error " + std::to_string(code->get<int64_t>()) + ")");
      }
      if (r->status != 200)
        return unavailable("GET " + path + ": HTTP " + std::to_string(r->status) + " " + excerpt(received));
      if (body.is_discarded()) return unavailable("GET " + path + ": the answer is not JSON: " + excerpt(received));
      return body;
    };
    const auto id_not_found = [&] { return not_found("schema id " + std::to_string(schema_id) + " does not exist"); };

    auto versions = get(base + "/versions");
    if (!versions) return versions.error().code() == Code::kNotFound ? id_not_found() : versions.error();
    RemoteSchema out;
    if (!versions->is_array()) return unavailable("GET " + base + "/versions: expected a JSON array");
    for (const json& v : *versions) {
      if (!v.is_object() || !v.contains("subject") || !v["subject"].is_string())
        return unavailable("GET " + base + "/versions: expected [{\"subject\": ..., \"version\": ...}]");
      out.subjects.insert(v["subject"].get<std::string>());
    }
    auto schema = get(base);
    if (!schema) return schema.error().code() == Code::kNotFound ? id_not_found() : schema.error();
    if (!schema->is_object() || !schema->contains("schema") || !(*schema)["schema"].is_string())
      return unavailable("GET " + base + ": expected {\"schema\": ...}");
    out.schema = (*schema)["schema"].get<std::string>();
    // Confluent leaves schemaType out for AVRO; present, it must be a string, as rootType.
    auto optional_string = [&](const char* field, std::string fallback) -> Result<std::string> {
      const auto it = schema->find(field);
      if (it == schema->end()) return fallback;
      if (!it->is_string())
        return unavailable("GET " + base + ": \"" + field + "\" is " + std::string(it->type_name()) +
                           ", expected a string");
      return it->get<std::string>();
    };
    auto schema_type = optional_string("schemaType", "AVRO");
    if (!schema_type) return schema_type.error();
    auto root_type = optional_string("rootType", "");
    if (!root_type) return root_type.error();
    out.schema_type = std::move(*schema_type);
    out.root_type = std::move(*root_type);
    auto references = references_of(*schema, "GET " + base);
    if (!references) return references.error();
    out.references = std::move(*references);
    if (out.schema_type == "FLATBUFFERS") CAUSEWAY_RETURN_IF_ERROR(fetch_referenced(out, get));
    return out;
  }

 private:
  using Key = RemoteSchema::VersionKey;
  struct CachedReference {
    registry::ReferencedSchema schema;
    Clock::time_point until;
  };

  // Every subject version `out.references` reach, breadth first, from the cache or with
  // `get` (so within the lookup's deadline), at most kMaxReferencedSchemas of them. A
  // version the registry says does not exist goes to `missing` (parse_schema then names the
  // include); any other failure fails the whole lookup, as the id's own GETs do.
  Status fetch_referenced(RemoteSchema& out, const std::function<Result<json>(const std::string&)>& get) {
    std::deque<Key> queue;
    for (const auto& r : out.references) queue.emplace_back(r.subject, r.version);
    while (!queue.empty()) {
      const Key key = std::move(queue.front());
      queue.pop_front();
      if (out.referenced.contains(key) || out.missing.contains(key)) continue;
      if (out.referenced.size() >= registry::kMaxReferencedSchemas) {
        out.missing.emplace(key, "not asked for: the schema reaches more than " +
                                     std::to_string(registry::kMaxReferencedSchemas) + " referenced versions");
        continue;
      }
      std::optional<registry::ReferencedSchema> found = cached(key);
      if (!found) {
        const std::string path =
            "/subjects/" + encode_segment(key.first) + "/versions/" + std::to_string(key.second) + "?deleted=true";
        auto answer = get(path);
        if (!answer) {
          if (answer.error().code() != Code::kNotFound) return answer.error();
          out.missing.emplace(key, std::string(answer.error().message()));
          continue;
        }
        if (!answer->is_object() || !answer->contains("schema") || !(*answer)["schema"].is_string())
          return unavailable("GET " + path + ": expected {\"schema\": ...}");
        auto refs = references_of(*answer, "GET " + path);
        if (!refs) return refs.error();
        found = registry::ReferencedSchema{(*answer)["schema"].get<std::string>(), std::move(*refs)};
        remember(key, *found);
      }
      for (const auto& r : found->references) queue.emplace_back(r.subject, r.version);
      out.referenced.emplace(key, std::move(*found));
    }
    return Status();
  }

  std::optional<registry::ReferencedSchema> cached(const Key& key) {
    std::lock_guard lk(cache_mu_);
    const auto it = cache_.find(key);
    if (it == cache_.end() || it->second.until <= Clock::now()) return std::nullopt;
    return it->second.schema;
  }

  void remember(const Key& key, const registry::ReferencedSchema& schema) {
    const auto now = Clock::now();
    std::lock_guard lk(cache_mu_);
    const size_t max = std::max<size_t>(1, options_.max_cached_references);
    if (!cache_.contains(key) && cache_.size() >= max) {
      std::erase_if(cache_, [&](const auto& kv) { return kv.second.until <= now; });
      while (cache_.size() >= max) {
        auto oldest = cache_.begin();
        for (auto it = cache_.begin(); it != cache_.end(); ++it)
          if (it->second.until < oldest->second.until) oldest = it;
        cache_.erase(oldest);
      }
    }
    cache_.insert_or_assign(key, CachedReference{schema, now + options_.reference_cache_for});
  }

  const HttpFetcherOptions options_;
  std::mutex cache_mu_;  // guards cache_ (fetches run on several threads)
  std::map<Key, CachedReference> cache_;
};

}  // namespace

registry::ReferenceLookup lookup_in(const RemoteSchema& fetched) {
  return [&fetched](const std::string& subject, int version) -> Result<registry::ReferencedSchema> {
    const RemoteSchema::VersionKey key{subject, version};
    if (const auto it = fetched.referenced.find(key); it != fetched.referenced.end()) return it->second;
    if (const auto it = fetched.missing.find(key); it != fetched.missing.end()) return not_found(it->second);
    return not_found("the registry's answer did not include it");
  };
}

Result<std::unique_ptr<SchemaFetcher>> make_http_schema_fetcher(HttpFetcherOptions options) {
  const std::string& url = options.url;
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0)
    return invalid_argument("registry URL \"" + url + "\" must start with http:// (https is not supported)");
  const std::string rest = url.substr(kScheme.size());
  if (rest.empty() || rest.front() == ':' || rest.front() == '/')
    return invalid_argument("registry URL \"" + url + "\" has no host");
  if (rest.find('/') != std::string::npos)
    return invalid_argument("registry URL \"" + url + "\" has a path; give http://HOST:PORT only");
  return std::unique_ptr<SchemaFetcher>(std::make_unique<HttpSchemaFetcher>(std::move(options)));
}

RemoteSchemaChecker::RemoteSchemaChecker(std::unique_ptr<SchemaFetcher> fetcher, RemoteSchemaCheckerOptions options)
    : fetcher_(std::move(fetcher)), options_(options) {
  const size_t n = std::max<size_t>(1, options_.fetch_threads);
  for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { fetch_loop(); });
}

RemoteSchemaChecker::~RemoteSchemaChecker() { stop(); }

uint64_t RemoteSchemaChecker::fetches_started() const {
  std::lock_guard lk(mu_);
  return fetches_started_;
}

void RemoteSchemaChecker::wait_idle() const {
  std::unique_lock lk(mu_);
  idle_.wait(lk, [&] { return in_flight_.empty() && answering_ == 0; });
}

std::optional<SchemaCheck> RemoteSchemaChecker::check_id(std::string_view subject, uint32_t schema_id) {
  if (schema_id == 0)
    return SchemaCheck{SchemaVerdict::kNotAVersion,
                       "the event has no schema id; this topic takes events whose schema is a version of subject " +
                           quoted(subject)};
  if (schema_id > static_cast<uint32_t>(INT32_MAX))
    return SchemaCheck{SchemaVerdict::kNotAVersion, "schema id " + std::to_string(schema_id) + " does not exist"};
  return std::nullopt;
}

SchemaCheck RemoteSchemaChecker::answer(const Entry& e, std::string_view subject, uint32_t schema_id,
                                        std::string_view payload, bool verify_payload) const {
  const std::string id = std::to_string(schema_id);
  if (e.status.code() == Code::kNotFound)
    return {SchemaVerdict::kNotAVersion, "schema id " + id + " does not exist (registry " + fetcher_->url() + ")"};
  if (!e.status.ok())
    return {SchemaVerdict::kUnavailable, "schema registry " + fetcher_->url() + " is unavailable, so schema id " + id +
                                             " of subject " + quoted(subject) +
                                             " cannot be checked: " + std::string(e.status.message())};
  if (e.schema && !e.schema->has_root_type()) return {SchemaVerdict::kNotAVersion, no_root_type_message(schema_id)};
  if (e.subjects.count(subject) == 0)
    return {SchemaVerdict::kNotAVersion, "schema id " + id + " is not a version of subject " + quoted(subject)};
  if (!verify_payload) return {};
  if (!e.schema)
    return {SchemaVerdict::kNotAVersion, "schema id " + id + " cannot verify payloads: " + e.schema_error};
  const Status verified = registry::verify_payload(
      *e.schema, std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  if (!verified.ok())
    return {SchemaVerdict::kInvalidPayload,
            "payload does not verify against schema id " + id + ": " + std::string(verified.message())};
  return {};
}

std::shared_ptr<const RemoteSchemaChecker::Entry> RemoteSchemaChecker::cached_locked(uint32_t schema_id,
                                                                                      Clock::time_point now) {
  auto it = cache_.find(schema_id);
  if (it == cache_.end() || it->second->until <= now) return nullptr;
  if (it->second->refresh_at <= now && !stopping_ && !in_flight_.contains(schema_id)) enqueue_locked(schema_id);
  return it->second;
}

void RemoteSchemaChecker::enqueue_locked(uint32_t schema_id) {
  in_flight_.try_emplace(schema_id);
  queue_.push_back(schema_id);
  work_.notify_one();
}

std::optional<SchemaCheck> RemoteSchemaChecker::try_check(std::string_view subject, uint32_t schema_id,
                                                          std::string_view payload, bool verify_payload) {
  if (auto c = check_id(subject, schema_id)) return c;
  std::shared_ptr<const Entry> entry;
  {
    std::lock_guard lk(mu_);
    entry = cached_locked(schema_id, Clock::now());
  }
  if (!entry) return std::nullopt;
  return answer(*entry, subject, schema_id, payload, verify_payload);
}

void RemoteSchemaChecker::check_async(std::string_view subject, uint32_t schema_id, std::string_view payload,
                                      bool verify_payload, CheckDone done) {
  if (auto c = check_id(subject, schema_id)) return done(std::move(*c));
  std::unique_lock lk(mu_);
  if (stopping_) {
    lk.unlock();
    return done({SchemaVerdict::kUnavailable, "the broker is stopping; schema id " + std::to_string(schema_id) +
                                                  " was not looked up in " + fetcher_->url()});
  }
  std::shared_ptr<const Entry> entry = cached_locked(schema_id, Clock::now());
  if (!entry) {
    // Join the fetch in flight for this id, or start one if the backlog has room.
    if (!in_flight_.contains(schema_id)) {
      if (in_flight_.size() >= options_.max_pending_lookups) {
        lk.unlock();
        return done({SchemaVerdict::kUnavailable, "schema registry lookups backlog full; retry (schema id " +
                                                      std::to_string(schema_id) + ", registry " + fetcher_->url() +
                                                      ")"});
      }
      enqueue_locked(schema_id);
    }
    in_flight_[schema_id].push_back(Waiter{subject, payload, verify_payload, std::move(done)});
    return;
  }
  lk.unlock();
  done(answer(*entry, subject, schema_id, payload, verify_payload));
}

Result<std::vector<uint8_t>> RemoteSchemaChecker::reflection_schema(uint32_t schema_id) {
  std::shared_ptr<const Entry> entry;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return unavailable("the broker is stopping; schema id " + std::to_string(schema_id) + " was not looked up");
    entry = cached_locked(schema_id, Clock::now());
  }
  if (!entry) {
    entry = fetch(schema_id);
    std::lock_guard lk(mu_);
    insert_locked(schema_id, entry, Clock::now());
  }
  if (!entry->status.ok()) return entry->status;
  if (!entry->schema) {
    return failed_precondition("schema id " + std::to_string(schema_id) + " in " + fetcher_->url() +
                               " cannot be read: " + entry->schema_error);
  }
  return entry->schema->reflection_bytes;
}

std::shared_ptr<const RemoteSchemaChecker::Entry> RemoteSchemaChecker::fetch(uint32_t schema_id) {
  auto e = std::make_shared<Entry>();
  // An exception must not escape the fetch thread (std::terminate) nor leave waiters
  // unanswered: it is a failed lookup like any other.
  Result<RemoteSchema> r = unavailable("lookup did not complete");
  try {
    r = fetcher_->fetch(schema_id);
  } catch (const std::exception& ex) {
    r = unavailable(std::string("lookup failed: ") + ex.what());
  } catch (...) {
    r = unavailable("lookup failed with an unknown exception");
  }
  const auto now = Clock::now();
  if (!r) {
    e->status = r.error();
    e->until = e->refresh_at = now + options_.negative_cache_for;
    if (e->status.code() != Code::kNotFound)
      spdlog::warn("schema registry {}: lookup of schema id {} failed: {}", fetcher_->url(), schema_id,
                   e->status.message());
    return e;
  }
  e->subjects = std::move(r->subjects);
  if (r->schema_type != "FLATBUFFERS") {
    e->schema_error = "its schemaType is " + r->schema_type + ", not FLATBUFFERS";
  } else if (auto parsed = registry::parse_schema(r->schema, r->root_type, r->references, lookup_in(*r),
                                                   registry::RootTypeRule::kOptional);
             !parsed) {
    e->schema_error = "it does not parse: " + std::string(parsed.error().message());
  } else {
    e->schema = std::make_shared<const registry::ParsedSchema>(std::move(*parsed));
  }
  e->until = now + options_.cache_for;
  e->refresh_at = now + options_.cache_for * 3 / 4;
  return e;
}

void RemoteSchemaChecker::insert_locked(uint32_t schema_id, std::shared_ptr<const Entry> entry,
                                        Clock::time_point now) {
  if (auto it = cache_.find(schema_id); it != cache_.end()) {
    it->second = std::move(entry);
    return;
  }
  const size_t max = std::max<size_t>(1, options_.max_cached_ids);
  if (cache_.size() >= max) {
    // Failed lookups and expired entries first: they answer nothing a refetch would not.
    std::erase_if(cache_, [&](const auto& kv) { return !kv.second->status.ok() || kv.second->until <= now; });
    // Then the oldest: the earliest to expire, as every good entry lives cache_for.
    while (cache_.size() >= max) {
      auto oldest = cache_.begin();
      for (auto it = cache_.begin(); it != cache_.end(); ++it)
        if (it->second->until < oldest->second->until) oldest = it;
      cache_.erase(oldest);
    }
  }
  cache_.emplace(schema_id, std::move(entry));
}

void RemoteSchemaChecker::fetch_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    const uint32_t id = queue_.front();
    queue_.pop_front();
    ++fetches_started_;
    lk.unlock();
    std::shared_ptr<const Entry> fetched = fetch(id);
    lk.lock();
    // Bounded drain: the waiters present now are answered first, in the order they asked;
    // then the entry enters the cache; then whoever joined meanwhile is answered and the
    // lookup is over. (A steady stream of requests for a hot id must not keep it off the
    // cache.) Those late joiners may be overtaken by later requests answered from the
    // cache: docs/registry.md.
    ++answering_;
    for (int pass = 0; pass < 2; ++pass) {
      auto it = in_flight_.find(id);
      std::vector<Waiter> waiters = std::move(it->second);
      it->second.clear();
      if (pass == 1) {
        in_flight_.erase(it);
        // A failed refresh leaves a good entry in place until it expires.
        auto cached = cache_.find(id);
        const bool keep_old = !fetched->status.ok() && fetched->status.code() != Code::kNotFound &&
                              cached != cache_.end() && cached->second->status.ok() &&
                              cached->second->until > Clock::now();
        if (!keep_old) insert_locked(id, fetched, Clock::now());
      }
      if (waiters.empty()) continue;
      lk.unlock();
      for (Waiter& w : waiters) {
        try {
          w.done(answer(*fetched, w.subject, id, w.payload, w.verify_payload));
        } catch (const std::exception& ex) {
          spdlog::error("schema check of id {}: continuing the publish failed: {}", id, ex.what());
        }
      }
      waiters.clear();  // the callbacks' state goes now
      lk.lock();
    }
    --answering_;
    if (in_flight_.empty() && answering_ == 0) idle_.notify_all();
  }
}

void RemoteSchemaChecker::stop() {
  std::vector<std::pair<uint32_t, std::vector<Waiter>>> unanswered;
  {
    std::lock_guard lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    // Queued, not started: answered now rather than after a fetch nobody needs.
    for (uint32_t id : queue_) {
      auto it = in_flight_.find(id);
      unanswered.emplace_back(id, std::move(it->second));
      in_flight_.erase(it);
    }
    queue_.clear();
    if (in_flight_.empty() && answering_ == 0) idle_.notify_all();
    work_.notify_all();
  }
  for (auto& [id, waiters] : unanswered)
    for (Waiter& w : waiters)
      w.done({SchemaVerdict::kUnavailable,
              "the broker is stopping; schema id " + std::to_string(id) + " was not looked up in " + fetcher_->url()});
  std::vector<std::thread> threads;
  {
    std::lock_guard lk(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads)
    if (t.joinable()) t.join();
}

}  // namespace causeway::core
