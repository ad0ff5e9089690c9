// The causeway-registry daemon over real HTTP on 127.0.0.1: every endpoint through
// RegistryClient, every error code through raw requests (bodies that are not JSON, schemas
// that do not parse, more than 1 MiB of garbage, unknown subjects and versions), concurrent
// registrations of one schema, restart, the LOCK file, and a sample of the evolution corpus
// whose REST verdicts must match the library's. API: docs/registry.md.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <random>
#include <set>
#include <thread>

#include "causeway/client/registry_client.h"
#include "causeway/registry/compatibility.h"
#include "tests/integration/registry_daemon.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/registry/evolution_corpus.h"

namespace causeway {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::http;
using testing::RegistryDaemon;
using testing::schema_body;
using client::RegistryClient;

constexpr const char* kOrderV1 = "namespace shop;\ntable Order { id:ulong; amount:int; }\nroot_type Order;\n";
constexpr const char* kOrderV2 = "namespace shop;\ntable Order { id:ulong; amount:int; note:string; }\nroot_type Order;\n";
// Two breaking changes: amount widened, id's type changed.
constexpr const char* kOrderBad = "namespace shop;\ntable Order { id:uint; amount:long; }\nroot_type Order;\n";

class RegistryRest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<RegistryDaemon>(dir_.sub("registry"));
    ASSERT_TRUE(daemon_->started()) << daemon_->process().output();
    client_ = make_client();
  }
  std::unique_ptr<RegistryClient> make_client() {
    client::RegistryClientOptions options;
    options.url = daemon_->url();
    auto c = RegistryClient::create(options);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }
  testing::HttpReply call(const std::string& method, const std::string& path, const std::string& body = {},
                          const std::string& content_type = "application/vnd.schemaregistry.v1+json") {
    return http(daemon_->url(), method, path, body, content_type);
  }

  causeway::testing::TempDir dir_;
  std::unique_ptr<RegistryDaemon> daemon_;
  std::unique_ptr<RegistryClient> client_;
};

TEST_F(RegistryRest, ClientRegistersAndReadsBackThroughEveryEndpoint) {
  auto r1 = client_->register_schema("orders", kOrderV1, "Order");
  ASSERT_TRUE(r1.ok()) << r1.error().to_string();
  EXPECT_EQ(r1->id, 1);
  EXPECT_EQ(r1->version, 1);
  auto r2 = client_->register_schema("orders", kOrderV2, "shop.Order");
  ASSERT_TRUE(r2.ok()) << r2.error().to_string();
  EXPECT_EQ(r2->id, 2);
  EXPECT_EQ(r2->version, 2);
  // The same schema under another subject keeps its global id.
  auto other = client_->register_schema("orders-copy", kOrderV1, "Order");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->id, 1);

  EXPECT_THAT(*client_->list_subjects(), ElementsAre("orders", "orders-copy"));
  EXPECT_THAT(*client_->list_versions("orders"), ElementsAre(1, 2));
  auto latest = client_->get_version("orders");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version, 2);
  EXPECT_EQ(latest->schema.id, 2);
  EXPECT_EQ(latest->schema.root_type, "shop.Order");
  EXPECT_EQ(latest->schema.schema, kOrderV2);
  EXPECT_EQ(client_->get_version("orders", 1)->schema.id, 1);
  auto by_id = client_->get_schema(1);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->schema, kOrderV1);
  auto users = client_->subject_versions_of(1);
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), 2u);
  auto found = client_->lookup("orders", kOrderV1, "Order");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->version, 1);

  auto ok = client_->check_compatibility("orders", kOrderV2, "Order");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->is_compatible);
  auto bad = client_->check_compatibility("orders", kOrderBad, "Order", 1);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->is_compatible);
  EXPECT_EQ(bad->messages.size(), 2u);

  EXPECT_EQ(*client_->get_mode(), "BACKWARD");
  EXPECT_EQ(*client_->set_mode("", "FULL"), "FULL");
  EXPECT_EQ(*client_->get_mode(), "FULL");
  EXPECT_EQ(*client_->get_mode("orders", true), "FULL");
  EXPECT_EQ(*client_->set_mode("orders", "NONE"), "NONE");
  EXPECT_EQ(*client_->get_mode("orders"), "NONE");
  EXPECT_TRUE(client_->register_schema("orders", kOrderBad, "Order").ok()) << "mode NONE accepts anything";
  auto removed_mode = call("DELETE", "/config/orders-copy");
  EXPECT_EQ(removed_mode.error_code(), 40408) << "orders-copy has no mode of its own";
  ASSERT_TRUE(client_->set_mode("orders-copy", "FORWARD").ok());
  EXPECT_EQ(call("DELETE", "/config/orders-copy").body, R"({"compatibilityLevel":"FORWARD"})");
  EXPECT_EQ(call("GET", "/config/orders-copy").error_code(), 40408);

  // Raw text endpoints and the schema types list.
  auto text = call("GET", "/subjects/orders/versions/1/schema");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body, kOrderV1);
  EXPECT_EQ(call("GET", "/schemas/ids/2/schema").body, kOrderV2);
  EXPECT_EQ(call("GET", "/schemas/types").body, R"(["FLATBUFFERS"])");
  EXPECT_EQ(call("GET", "/").status, 200);
  EXPECT_THAT(call("GET", "/subjects").content_type, HasSubstr("application/vnd.schemaregistry.v1+json"));

  // Deletes: soft, then hard.
  EXPECT_EQ(*client_->delete_version("orders", 3), 3);
  EXPECT_THAT(*client_->list_versions("orders"), ElementsAre(1, 2));
  EXPECT_THAT(*client_->list_versions("orders", true), ElementsAre(1, 2, 3));
  EXPECT_EQ(*client_->delete_version("orders", 3, true), 3);
  EXPECT_THAT(*client_->list_versions("orders", true), ElementsAre(1, 2));
  EXPECT_THAT(*client_->delete_subject("orders"), ElementsAre(1, 2));
  EXPECT_THAT(*client_->list_subjects(), ElementsAre("orders-copy"));
  EXPECT_THAT(*client_->list_subjects(true), ElementsAre("orders", "orders-copy"));
  EXPECT_THAT(*client_->delete_subject("orders", true), ElementsAre(1, 2));
  EXPECT_THAT(*client_->list_subjects(true), ElementsAre("orders-copy"));
  // Schema 1 is still used by orders-copy; schema 2 is gone with its last version.
  EXPECT_TRUE(call("GET", "/schemas/ids/1").status == 200);
  EXPECT_EQ(call("GET", "/schemas/ids/2").error_code(), 40403);
}

TEST_F(RegistryRest, SubjectNamesWithSlashesAndSpacesRoundTrip) {
  const std::string subject = "team a/orders-value";
  auto r = client_->register_schema(subject, kOrderV1, "Order");
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_THAT(*client_->list_subjects(), ElementsAre(subject));
  EXPECT_EQ(call("GET", "/subjects/team%20a%2Forders-value/versions").body, "[1]");
  EXPECT_EQ(client_->get_version(subject)->subject, subject);
}

TEST_F(RegistryRest, NotFoundCodesNameWhatIsMissing) {
  auto r = call("GET", "/subjects/nope/versions");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), 40401);
  EXPECT_THAT(r.message(), HasSubstr("nope"));
  EXPECT_THAT(r.content_type, HasSubstr("json"));
  ASSERT_TRUE(client_->register_schema("s", kOrderV1, "Order").ok());
  EXPECT_EQ(call("GET", "/subjects/s/versions/9").error_code(), 40402);
  EXPECT_EQ(call("GET", "/schemas/ids/999").error_code(), 40403);
  EXPECT_EQ(call("GET", "/schemas/ids/x").error_code(), 40403);
  EXPECT_EQ(call("POST", "/subjects/s", schema_body(kOrderV2)).error_code(), 40403);
  EXPECT_EQ(call("POST", "/subjects/none", schema_body(kOrderV2)).error_code(), 40401);
  EXPECT_EQ(call("GET", "/config/s").error_code(), 40408);
  EXPECT_EQ(call("POST", "/compatibility/subjects/s/versions/5", schema_body(kOrderV2)).error_code(), 40402);
  EXPECT_EQ(call("POST", "/compatibility/subjects/none/versions/latest", schema_body(kOrderV2)).error_code(), 40401);
  // The client maps them to kNotFound with the code in the message.
  auto missing = client_->get_version("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(client::registry_error_code(missing.error()), 40401);
  // Unknown paths and methods.
  EXPECT_EQ(call("GET", "/nothing/here").status, 404);
  EXPECT_EQ(call("PUT", "/subjects").status, 405);
}

TEST_F(RegistryRest, SoftAndHardDeleteFollowConfluentsOrder) {
  ASSERT_TRUE(client_->register_schema("s", kOrderV1, "Order").ok());
  ASSERT_TRUE(client_->register_schema("s", kOrderV2, "Order").ok());
  EXPECT_EQ(call("DELETE", "/subjects/s/versions/1?permanent=true").error_code(), 40407);
  EXPECT_EQ(call("DELETE", "/subjects/s?permanent=true").error_code(), 40405);
  EXPECT_EQ(call("DELETE", "/subjects/s/versions/1").body, "1");
  EXPECT_EQ(call("DELETE", "/subjects/s/versions/1").error_code(), 40406);
  EXPECT_EQ(call("GET", "/subjects/s/versions/1").error_code(), 40402);
  EXPECT_EQ(call("GET", "/subjects/s/versions/1?deleted=true").json().value("deleted", false), true);
  EXPECT_EQ(call("DELETE", "/subjects/s").body, "[2]");
  EXPECT_EQ(call("DELETE", "/subjects/s").error_code(), 40404);
  EXPECT_EQ(call("GET", "/subjects/s/versions").error_code(), 40401);
  EXPECT_EQ(call("DELETE", "/subjects/s?permanent=true").body, "[1,2]");
  EXPECT_EQ(call("DELETE", "/subjects/s").error_code(), 40401);
  auto client_error = client_->delete_subject("s", true);
  ASSERT_FALSE(client_error.ok());
  EXPECT_EQ(client_error.error().code(), Code::kNotFound);
}

TEST_F(RegistryRest, IncompatibleSchemaIs409ListingEveryViolation) {
  ASSERT_TRUE(client_->register_schema("s", kOrderV1, "Order").ok());
  auto r = call("POST", "/subjects/s/versions", schema_body(kOrderBad, "Order"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.error_code(), 409);
  EXPECT_THAT(r.message(), HasSubstr("shop.Order.amount (id 1): type changed from int to long"));
  EXPECT_THAT(r.message(), HasSubstr("shop.Order.id (id 0): type changed from ulong to uint"));
  auto verbose = call("POST", "/compatibility/subjects/s/versions/latest?verbose=true", schema_body(kOrderBad, "Order"));
  EXPECT_EQ(verbose.status, 200);
  EXPECT_EQ(verbose.json()["is_compatible"], false);
  EXPECT_EQ(verbose.json()["messages"].size(), 2u);
  auto quiet = call("POST", "/compatibility/subjects/s/versions/latest", schema_body(kOrderBad, "Order"));
  EXPECT_FALSE(quiet.json().contains("messages"));
  auto client_error = client_->register_schema("s", kOrderBad, "Order");
  ASSERT_FALSE(client_error.ok());
  EXPECT_EQ(client_error.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(client::registry_error_code(client_error.error()), 409);
}

TEST_F(RegistryRest, BadBodiesGetTheirOwnCodes) {
  // Not JSON at all.
  auto not_json = call("POST", "/subjects/s/versions", "{not json");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.error_code(), 400);
  // JSON, but not an object.
  EXPECT_EQ(call("POST", "/subjects/s/versions", "[1,2]").error_code(), 400);
  // A Content-Type that is not JSON.
  auto wrong_type = call("POST", "/subjects/s/versions", schema_body(kOrderV1), "text/plain");
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(wrong_type.error_code(), 415);
  EXPECT_THAT(wrong_type.message(), HasSubstr("Content-Type"));
  // application/json is accepted too.
  EXPECT_EQ(call("POST", "/subjects/s/versions", schema_body(kOrderV1), "application/json").status, 200);
  // No schema, or another schema type.
  EXPECT_EQ(call("POST", "/subjects/s/versions", R"({"schemaType":"FLATBUFFERS"})").error_code(), 42201);
  EXPECT_EQ(call("POST", "/subjects/s/versions", R"({"schema":"x","schemaType":"AVRO"})").error_code(), 42201);
  // A schema that does not parse: the parser's message with its line.
  auto unparsable = call("POST", "/subjects/t/versions", schema_body("table T {\n  a:int;\n  b:nosuchtype;\n}\n", "T"));
  EXPECT_EQ(unparsable.status, 422);
  EXPECT_EQ(unparsable.error_code(), 42201);
  EXPECT_THAT(unparsable.message(), HasSubstr("nosuchtype"));
  EXPECT_THAT(unparsable.message(), HasSubstr("line "));
  auto syntax = call("POST", "/subjects/t/versions", schema_body("table T {\n  a:int\n  b:int;\n}\n", "T"));
  EXPECT_EQ(syntax.error_code(), 42201);
  EXPECT_THAT(syntax.message(), HasSubstr("line 3"));
  EXPECT_EQ(call("POST", "/subjects/t/versions", schema_body("table T { a:int; }", "Missing")).error_code(), 42201);
  // Versions and modes.
  EXPECT_EQ(call("GET", "/subjects/s/versions/abc").error_code(), 42202);
  EXPECT_EQ(call("GET", "/subjects/s/versions/0").error_code(), 42202);
  EXPECT_EQ(call("GET", "/subjects/s/versions/99999999999").error_code(), 42202);
  EXPECT_EQ(call("PUT", "/config", R"({"compatibility":"SIDEWAYS"})").error_code(), 42203);
  EXPECT_EQ(call("PUT", "/config/s", R"({"compatibility":7})").error_code(), 42203);
  EXPECT_EQ(call("PUT", "/config", R"({"compatibility":"full_transitive"})").json()["compatibility"], "FULL_TRANSITIVE");
}

TEST_F(RegistryRest, MoreThanOneMebibyteOfGarbageIs413AndTheDaemonLivesOn) {
  std::mt19937 rng(42);
  std::string garbage(1024 * 1024 + 1000, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng());
  auto r = call("POST", "/subjects/s/versions", garbage);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.error_code(), 413);
  // Just under the limit, the same garbage is refused as not JSON.
  auto under = call("POST", "/subjects/s/versions", garbage.substr(0, 1000 * 1000));
  EXPECT_EQ(under.status, 400);
  EXPECT_TRUE(client_->register_schema("s", kOrderV1, "Order").ok());
  EXPECT_TRUE(client_->list_subjects().ok());
}

// A chain of 10000 nested tables used to overflow the checker's stack and kill the daemon
// (and would kill a broker embedding it). Now the check stops at 64 levels and refuses.
// `GET /subjects/%FF/versions` used to end the process: the 404 message repeated the
// subject, nlohmann's dump() threw on the byte 0xFF, httplib answered 500 and then our
// error handler put the decoded path into another JSON message outside any catch.
TEST_F(RegistryRest, RequestTextThatIsNotUtf8GetsAJsonErrorAndTheDaemonLivesOn) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/subjects/%FF/versions"},
           {"GET", "/subjects/%FF"},
           {"GET", "/subjects/x/versions/%FF"},
           {"GET", "/subjects/%C3%28/versions/latest/schema"},
           {"DELETE", "/subjects/%FF/versions/1"},
           {"GET", "/config/%ED%A0%80"},
           {"POST", "/compatibility/subjects/%FF/versions/latest"},
           {"PATCH", "/subjects/x%FF"},
           {"GET", "/%FF/%FE"},
       }) {
    const auto r = call(method, path, schema_body(kOrderV1, "shop.Order"));
    EXPECT_GE(r.status, 400) << method << " " << path;
    EXPECT_LT(r.status, 500) << method << " " << path << ": " << r.body;
    EXPECT_TRUE(r.json().is_object()) << method << " " << path << ": " << r.body;
    ASSERT_TRUE(client_->list_subjects().ok()) << "the daemon died on " << method << " " << path << "\n"
                                               << daemon_->process().output();
  }
  EXPECT_EQ(call("GET", "/subjects/%FF/versions").error_code(), 42208);
  EXPECT_THAT(call("GET", "/subjects/%FF/versions").message(), HasSubstr("not valid UTF-8 (byte 0xFF at position 0)"));
}

TEST_F(RegistryRest, SubjectNamesMustBeUtf8WithoutControlCharactersAndAtMost255Bytes) {
  const std::string body = schema_body(kOrderV1, "shop.Order");
  EXPECT_EQ(call("POST", "/subjects/%FF/versions", body).error_code(), 42208);
  EXPECT_EQ(call("POST", "/subjects/ok%C0%AF/versions", body).error_code(), 42208);  // overlong '/'
  const auto control = call("POST", "/subjects/a%01b/versions", body);
  EXPECT_EQ(control.error_code(), 42208);
  EXPECT_THAT(control.message(), HasSubstr("control character (byte 1 at position 1)"));
  EXPECT_EQ(call("POST", "/subjects/" + std::string(256, 'x') + "/versions", body).error_code(), 42208);
  EXPECT_EQ(call("POST", "/subjects/" + std::string(255, 'x') + "/versions", body).status, 200);
  // Non-ASCII UTF-8 is a name like any other, and GET /subjects stays valid JSON.
  EXPECT_EQ(call("POST", "/subjects/caf%C3%A9/versions", body).status, 200);
  const auto subjects = call("GET", "/subjects");
  ASSERT_EQ(subjects.status, 200) << subjects.body;
  EXPECT_THAT(subjects.json().dump(), HasSubstr("caf\u00e9"));
  // A reference naming a subject that is not UTF-8 is refused the same way.
  nlohmann::json with_ref = nlohmann::json::parse(body);
  with_ref["references"] = nlohmann::json::array({{{"name", "r"}, {"subject", "a\u0001"}, {"version", 1}}});
  EXPECT_EQ(call("POST", "/subjects/refs/versions", with_ref.dump()).error_code(), 42208);
}

// cpp-httplib binds with SO_REUSEPORT by default, so a second registry on a port in use
// started, and the kernel split connections between the two stores.
TEST_F(RegistryRest, SecondDaemonOnAPortInUseRefusesToStart) {
  const std::string port = daemon_->url().substr(daemon_->url().rfind(':') + 1);
  testing::DaemonProcess second(testing::kRegistryBinary,
                                {"--listen", "127.0.0.1:" + port, "--data-dir", dir_.sub("other-registry")});
  auto status = second.wait_exit(30s);
  ASSERT_TRUE(status) << second.output();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << second.output();
  EXPECT_THAT(second.output(), HasSubstr("cannot listen on 127.0.0.1:" + port + ": Address already in use"));
  EXPECT_TRUE(client_->list_subjects().ok());
}

// A schema with a vector of unions would let one publish abort a broker that verifies
// payloads with it (FlatBuffers 2.0.8's verifier, found by the frame fuzzer): refused.
TEST_F(RegistryRest, SchemaWithAVectorOfUnionsIsRefusedNamingTheField) {
  const auto r = call("POST", "/subjects/features-value/versions",
                      schema_body("table A { x:int; } union U { A } table F { us:[U]; } root_type F;"));
  EXPECT_EQ(r.error_code(), 42201) << r.body;
  EXPECT_THAT(r.message(), HasSubstr("field F.us is a vector of unions"));
  EXPECT_EQ(call("POST", "/subjects/features-value/versions",
                 schema_body("table A { x:int; } union U { A } table F { u:U; } root_type F;"))
                .status,
            200);
}

TEST_F(RegistryRest, DeeplyNestedSchemaIsRefusedAndTheDaemonLivesOn) {
  const auto chain = [](const char* last_type) {
    std::string s;
    for (int i = 0; i < 10000; ++i) s += "table T" + std::to_string(i) + " { x:T" + std::to_string(i + 1) + "; } ";
    return s + "table T10000 { y:" + last_type + "; } root_type T0;";
  };
  ASSERT_EQ(call("POST", "/subjects/deep/versions", schema_body(chain("int"))).status, 200);
  auto r = call("POST", "/subjects/deep/versions", schema_body(chain("long")));
  EXPECT_EQ(r.error_code(), 409);
  EXPECT_THAT(r.message(), HasSubstr("types nest more than 64 levels"));
  EXPECT_TRUE(client_->list_subjects().ok());
}

TEST_F(RegistryRest, ConcurrentRegistrationsOfTheSameSchemaYieldOneId) {
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<std::string> replies(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Raw HTTP so no client-side cache can hide a second id.
      replies[static_cast<std::size_t>(t)] =
          call("POST", std::string("/subjects/") + (t % 2 ? "a" : "b") + "/versions", schema_body(kOrderV1, "Order")).body;
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> distinct(replies.begin(), replies.end());
  EXPECT_EQ(distinct, (std::set<std::string>{R"({"id":1,"version":1})"}));
  EXPECT_THAT(*client_->list_versions("a"), ElementsAre(1));
  EXPECT_THAT(*client_->list_versions("b"), ElementsAre(1));
}

TEST_F(RegistryRest, RestartKeepsEverything) {
  ASSERT_TRUE(client_->register_schema("s", kOrderV1, "Order").ok());
  ASSERT_TRUE(client_->register_schema("s", kOrderV2, "Order").ok());
  ASSERT_TRUE(client_->set_mode("s", "FULL").ok());
  ASSERT_TRUE(client_->set_mode("", "FORWARD").ok());
  ASSERT_TRUE(client_->delete_version("s", 1).ok());
  EXPECT_EQ(daemon_->stop(), 0) << daemon_->process().output();
  EXPECT_THAT(daemon_->process().output(), HasSubstr("stopped cleanly"));

  daemon_ = std::make_unique<RegistryDaemon>(dir_.sub("registry"));
  ASSERT_TRUE(daemon_->started()) << daemon_->process().output();
  client_ = make_client();
  EXPECT_THAT(*client_->list_versions("s"), ElementsAre(2));
  EXPECT_THAT(*client_->list_versions("s", true), ElementsAre(1, 2));
  EXPECT_EQ(client_->get_version("s")->schema.schema, kOrderV2);
  EXPECT_EQ(client_->get_schema(1)->schema, kOrderV1);
  EXPECT_EQ(*client_->get_mode("s"), "FULL");
  EXPECT_EQ(*client_->get_mode(), "FORWARD");
  auto next = client_->register_schema("t", "table X { a:int; } root_type X;", "");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 3);
}

TEST_F(RegistryRest, SecondDaemonOnTheSameDirectoryRefusesWithAClearError) {
  testing::DaemonProcess second(testing::kRegistryBinary,
                                {"--listen", "127.0.0.1:0", "--data-dir", dir_.sub("registry")});
  auto status = second.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
  EXPECT_THAT(second.output(), HasSubstr("in use by another causeway-registry"));
  // The first one is unharmed.
  EXPECT_TRUE(client_->list_subjects().ok());
}

TEST_F(RegistryRest, SigintStopsCleanlyWithExitZero) {
  daemon_->process().signal(SIGINT);
  auto status = daemon_->process().wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_->process().output();
  EXPECT_THAT(daemon_->process().output(), HasSubstr("received SIGINT"));
}

TEST_F(RegistryRest, UnreachableRegistryIsUnavailableNamingTheUrl) {
  client::RegistryClientOptions options;
  options.url = "http://127.0.0.1:1";
  auto c = RegistryClient::create(options);
  ASSERT_TRUE(c.ok());
  auto r = (*c)->list_subjects();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_THAT(std::string(r.error().message()), HasSubstr("127.0.0.1:1"));
  options.url = "127.0.0.1:8081";
  EXPECT_EQ(RegistryClient::create(options).error().code(), Code::kInvalidArgument);
}

TEST(RegistryDaemonFlags, BadListenAddressIsRefusedByName) {
  causeway::testing::TempDir dir;
  testing::DaemonProcess bad(testing::kRegistryBinary, {"--listen", "nonsense", "--data-dir", dir.path()});
  auto status = bad.wait_exit(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_THAT(bad.output(), HasSubstr("--listen"));
}

// A sample of the evolution corpus through REST: for each pair and mode, the verdict of
// POST /compatibility must be the library's, with one message per violation.
TEST_F(RegistryRest, CorpusSampleVerdictsMatchTheLibrary) {
  const auto corpus = registry::testing::evolution_corpus();
  ASSERT_GE(corpus.size(), 10u);
  const registry::CompatibilityMode modes[] = {registry::CompatibilityMode::kBackward,
                                               registry::CompatibilityMode::kForward,
                                               registry::CompatibilityMode::kFull};
  int checked = 0;
  for (std::size_t i = 0; i < corpus.size(); i += 3) {  // every third pair
    const auto& c = corpus[i];
    const std::string subject = "corpus-" + std::to_string(i);
    auto old_parsed = registry::parse_schema(c.old_fbs, "");
    auto new_parsed = registry::parse_schema(c.new_fbs, "");
    ASSERT_TRUE(old_parsed.ok() && new_parsed.ok()) << c.name;
    ASSERT_TRUE(client_->register_schema(subject, std::string(c.old_fbs), "").ok()) << c.name;
    for (const auto mode : modes) {
      ASSERT_TRUE(client_->set_mode(subject, std::string(registry::format_compatibility_mode(mode))).ok());
      const auto expected = registry::check(mode, *new_parsed, std::span(&*old_parsed, 1));
      auto got = client_->check_compatibility(subject, std::string(c.new_fbs), "");
      ASSERT_TRUE(got.ok()) << c.name << ": " << got.error().to_string();
      EXPECT_EQ(got->is_compatible, expected.is_compatible)
          << c.name << " in " << registry::format_compatibility_mode(mode);
      EXPECT_EQ(got->messages.size(), expected.violations.size()) << c.name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 45);
}

}  // namespace
}  // namespace causeway
