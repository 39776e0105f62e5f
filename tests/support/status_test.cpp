// Status and Expected: the error kind (user vs internal) survives context, Expected and the early-return macros.
#include <catch2/catch.hpp>

#include "core/support/status.h"

using namespace fluidml;

namespace {

Status failWith(Status status) { return status; }

Status forwards(Status status) {
  FLUIDML_RETURN_IF_ERROR(failWith(std::move(status)).withContext("inner"));
  return Status::ok();
}

Expected<int> valueOr(Status status) {
  if (!status.isOk()) return status;
  return 42;
}

Expected<int> assigns(Status status) {
  FLUIDML_ASSIGN_OR_RETURN(int value, valueOr(std::move(status)));
  return value + 1;
}

}  // namespace

TEST_CASE("Status: error is a user error, internal an internal one", "[support][status]") {
  CHECK(Status::ok().isOk());
  CHECK_FALSE(Status::ok().isInternal());
  const Status user = Status::error("bad input");
  CHECK(user.kind() == ErrorKind::User);
  CHECK_FALSE(user.isInternal());
  CHECK(user.message() == "bad input");
  const Status internal = Status::internal("checker failed");
  CHECK(internal.kind() == ErrorKind::Internal);
  CHECK(internal.isInternal());
  CHECK(internal.message() == "checker failed");  // reporters add "internal error"
}

TEST_CASE("Status: withContext keeps the kind", "[support][status]") {
  const Status internal =
      Status::internal("checker failed").withContext("pass 'memory-plan' (#3)").withContext("m.onnx");
  CHECK(internal.isInternal());
  CHECK(internal.message() == "m.onnx: pass 'memory-plan' (#3): checker failed");
  const Status user = Status::error("no such file").withContext("m.onnx");
  CHECK(user.kind() == ErrorKind::User);
  CHECK(user.message() == "m.onnx: no such file");
  CHECK(Status::ok().withContext("m.onnx").isOk());
}

TEST_CASE("Status: the kind travels through Expected and the early-return macros", "[support][status]") {
  const Expected<int> internal = valueOr(Status::internal("IR does not verify"));
  REQUIRE_FALSE(internal.hasValue());
  CHECK(internal.status().isInternal());
  CHECK(valueOr(Status::error("bad")).status().kind() == ErrorKind::User);

  const Status returned = forwards(Status::internal("boom"));
  CHECK(returned.isInternal());
  CHECK(returned.message() == "inner: boom");
  CHECK(forwards(Status::error("boom")).kind() == ErrorKind::User);

  const Expected<int> assigned = assigns(Status::internal("boom"));
  REQUIRE_FALSE(assigned.hasValue());
  CHECK(assigned.status().isInternal());
  CHECK(assigns(Status::error("boom")).status().kind() == ErrorKind::User);
  const Expected<int> fine = assigns(Status::ok());
  REQUIRE(fine.hasValue());
  CHECK(*fine == 43);
}
