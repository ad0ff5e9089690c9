// verify_payload: real buffers encoded with flatbuffers' parser pass; truncated, garbage and
// wrong-root buffers fail with a message naming the root type. Contract:
// causeway/registry/payload.h.
#include "causeway/registry/payload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <flatbuffers/idl.h>

#include "tests/unit/registry/wire_sample.h"

namespace causeway::registry {
namespace {

using ::testing::HasSubstr;

ParsedSchema order_schema() {
  auto s = parse_schema("namespace shop; table Line { sku:string; qty:int; }\n"
                        "table Order { id:ulong; lines:[Line]; note:string; } root_type Order;", "");
  EXPECT_TRUE(s.ok());
  return *s;
}

std::vector<std::uint8_t> order_bytes(const ParsedSchema& schema) {
  auto b = testing::encode_json(schema, R"({"id": 7, "lines": [{"sku": "a", "qty": 2}], "note": "hello"})");
  EXPECT_TRUE(b.ok()) << b.error().to_string();
  return *b;
}

// FlatBuffers 2.0.8's reflection verifier reads a union vector's type vector at every index
// of its value vector without checking its length: with assertions on (Debian's build) one
// such payload aborted the broker (found by the frame fuzzer). Such schemas are refused,
// and a payload of one stored earlier is refused before the verifier sees it.
TEST(VerifyPayload, SchemaWithAVectorOfUnionsIsRefusedBeforeTheVerifierReadsThePayload) {
  constexpr const char* kText = "table A { x:int; } union U { A } table Holder { us:[U]; } root_type Holder;";
  auto refused = parse_schema(kText, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.error().message()), HasSubstr("field Holder.us is a vector of unions"));

  // The same schema as an older registry stored it (parsed without the check).
  flatbuffers::Parser parser;
  ASSERT_TRUE(parser.Parse(kText)) << parser.error_;
  parser.Serialize();
  ParsedSchema stored;
  stored.reflection_bytes.assign(parser.builder_.GetBufferPointer(),
                                 parser.builder_.GetBufferPointer() + parser.builder_.GetSize());
  stored.root_type = "Holder";
  EXPECT_EQ(find_union_vector(stored), "Holder.us");
  // A type vector of one entry beside a value vector of two.
  flatbuffers::FlatBufferBuilder b;
  const auto a_start = b.StartTable();
  b.AddElement<int32_t>(4, 5, 0);
  const flatbuffers::Offset<void> a(b.EndTable(a_start));
  const auto types = b.CreateVector(std::vector<uint8_t>{1});
  const auto values = b.CreateVector(std::vector<flatbuffers::Offset<void>>{a, a});
  const auto start = b.StartTable();
  b.AddOffset(4, types);
  b.AddOffset(6, values);
  b.Finish(flatbuffers::Offset<flatbuffers::Table>(b.EndTable(start)));
  const Status s = verify_payload(stored, std::span(b.GetBufferPointer(), b.GetSize()));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("vector of unions"));
}

TEST(VerifyPayload, ValidBufferPasses) {
  const auto schema = order_schema();
  const auto bytes = order_bytes(schema);
  EXPECT_TRUE(verify_payload(schema, bytes).ok()) << verify_payload(schema, bytes).to_string();
}

TEST(VerifyPayload, UnalignedCopyOfAValidBufferPasses) {
  const auto schema = order_schema();
  const auto bytes = order_bytes(schema);
  std::vector<std::uint8_t> shifted(bytes.size() + 1);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 1);
  EXPECT_TRUE(verify_payload(schema, std::span(shifted).subspan(1)).ok());
}

TEST(VerifyPayload, TruncationFailsUnlessOnlyTrailingPaddingIsCut) {
  const auto schema = order_schema();
  const auto bytes = order_bytes(schema);
  // The builder writes back to front, so the buffer's last bytes are the first object's
  // alignment padding; cutting only those loses nothing a reader could reach. Anything
  // shorter must fail.
  std::size_t shortest_passing = bytes.size();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    if (verify_payload(schema, std::span(bytes.data(), n)).ok()) shortest_passing = std::min(shortest_passing, n);
  }
  EXPECT_GE(shortest_passing + 3, bytes.size()) << "a buffer cut to " << shortest_passing << " of " << bytes.size()
                                                 << " bytes still verifies";
}

TEST(VerifyPayload, GarbageFailsAndNamesTheRootType) {
  const auto schema = order_schema();
  std::vector<std::uint8_t> garbage(64, 0xff);
  const Status s = verify_payload(schema, garbage);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("shop.Order"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("64 bytes"));
}

TEST(VerifyPayload, OutOfBoundsStringOffsetFails) {
  const auto schema = order_schema();
  auto bytes = order_bytes(schema);
  // Corrupt every 4-byte word in turn; at least some corruptions must be caught and none
  // may crash (ASan would report an out-of-bounds read).
  int caught = 0;
  for (std::size_t i = 4; i + 4 <= bytes.size(); i += 4) {
    auto copy = bytes;
    copy[i] = 0xff;
    copy[i + 1] = 0xff;
    copy[i + 2] = 0xff;
    copy[i + 3] = 0x7f;
    if (!verify_payload(schema, copy).ok()) ++caught;
  }
  EXPECT_GT(caught, 0);
}

}  // namespace
}  // namespace causeway::registry
