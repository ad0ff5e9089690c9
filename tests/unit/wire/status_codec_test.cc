// Status with its typed reason on the wire (causeway/wire/status.h, docs/wire-protocol.md).
#include "causeway/wire/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"

namespace causeway::wire {
namespace {

using causeway::testing::IsOk;
using causeway::testing::StatusIs;
using ::testing::HasSubstr;

// Encodes `s` into a Status table and reads it back, as a peer would.
Status round_trip(const Status& s) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(encode_status(b, s));
  flatbuffers::Verifier v(b.GetBufferPointer(), b.GetSize());
  EXPECT_TRUE(v.VerifyBuffer<protocol::Status>(nullptr));
  return decode_status(flatbuffers::GetRoot<protocol::Status>(b.GetBufferPointer()));
}

TEST(WireStatus, OkTravelsAsOk) {
  EXPECT_THAT(round_trip(Status()), IsOk());
  EXPECT_THAT(decode_status(nullptr), IsOk());
}

TEST(WireStatus, CodeReasonAndMessageSurviveTheTrip) {
  const Status sent(Code::kInvalidArgument, Reason::kInvalidTopicName, "topic name \"a b\" has an invalid character");
  const Status got = round_trip(sent);
  EXPECT_EQ(got, sent);
  EXPECT_EQ(got.reason(), Reason::kInvalidTopicName);
}

TEST(WireStatus, RegistryCodesTravelAsReasons) {
  const Status sent(Code::kNotFound, Reason::kSubjectNotFound, "subject 'orders-value' not found");
  EXPECT_EQ(round_trip(sent).reason(), Reason::kSubjectNotFound);
  EXPECT_EQ(static_cast<int>(round_trip(sent).reason()), 40401);
}

TEST(WireStatus, ReasonsWithProtocolCodesTravelAsThoseCodes) {
  // A peer that predates the reason field tells them apart by the code.
  EXPECT_EQ(error_code_of(Status(Code::kFailedPrecondition, Reason::kSchemaMismatch, "x")),
            protocol::ErrorCode::SchemaMismatch);
  EXPECT_EQ(error_code_of(Status(Code::kInvalidArgument, Reason::kInvalidPayload, "x")),
            protocol::ErrorCode::InvalidPayload);
  EXPECT_EQ(error_code_of(Status(Code::kUnavailable, Reason::kUnknownGroupMember, "x")),
            protocol::ErrorCode::UnknownGroupMember);
  EXPECT_EQ(error_code_of(Status(Code::kFailedPrecondition, Reason::kNotAssigned, "x")),
            protocol::ErrorCode::NotAssigned);
  EXPECT_EQ(error_code_of(Status(Code::kNotFound, Reason::kTopicNotFound, "x")), protocol::ErrorCode::NotFound);
}

TEST(WireStatus, AnEventAcksCodeAloneStillNamesTheReason) {
  // EventAck is a struct with a code and no reason field.
  EXPECT_THAT(decode_status(protocol::ErrorCode::SchemaMismatch, 0, "id 9 is not a version of orders-value"),
              StatusIs(Code::kInvalidArgument, HasSubstr("schema mismatch")));
  EXPECT_EQ(decode_status(protocol::ErrorCode::SchemaMismatch, 0, "").reason(), Reason::kSchemaMismatch);
  EXPECT_EQ(decode_status(protocol::ErrorCode::InvalidPayload, 0, "").reason(), Reason::kInvalidPayload);
  EXPECT_EQ(decode_status(protocol::ErrorCode::UnknownGroupMember, 0, "").reason(), Reason::kUnknownGroupMember);
  EXPECT_EQ(decode_status(protocol::ErrorCode::NotAssigned, 0, "").reason(), Reason::kNotAssigned);
}

TEST(WireStatus, UnknownCodesAndReasonsFromANewerPeerAreKeptNotDropped) {
  const Status odd = decode_status(static_cast<protocol::ErrorCode>(999), 0, "later");
  EXPECT_THAT(odd, StatusIs(Code::kInternal, HasSubstr("999")));
  const Status future = decode_status(protocol::ErrorCode::InvalidArgument, 777, "a newer reason");
  EXPECT_EQ(static_cast<int>(future.reason()), 777);
  EXPECT_EQ(reason_name(future.reason()), "reason_777");
}

}  // namespace
}  // namespace causeway::wire
