// Layouts: the text form, the physical geometry (shape, strides, bytes with padding) and validation.
#include <catch2/catch.hpp>

#include <set>

#include "core/ir/layout.h"
#include "core/ir/tensor_type.h"

using namespace fluidml;
using ir::Layout;

namespace {

Layout parsed(const std::string &text, size_t rank) {
  auto layout = ir::parseLayout(text, rank);
  INFO(text << ": " << (layout ? std::string() : layout.message()));
  REQUIRE(layout.hasValue());
  return *layout;
}

std::string parseError(const std::string &text, size_t rank) {
  auto layout = ir::parseLayout(text, rank);
  REQUIRE_FALSE(layout.hasValue());
  return layout.message();
}

}  // namespace

TEST_CASE("Layout text forms parse and print back", "[ir][layout]") {
  CHECK(parsed("(0,2,3,1)", 4).order == std::vector<int>{0, 2, 3, 1});
  CHECK(parsed("NHWC", 4) == Layout::permutation({0, 2, 3, 1}));
  CHECK(parsed("NCHW", 4).isRowMajor());
  CHECK(parsed("row-major", 3).isRowMajor());
  CHECK(parsed("(1,0)", 2).toString(2) == "(1,0)");         // column-major matrix
  CHECK(parsed("(0,2,1,3)", 4).toString(4) == "(0,2,1,3)");  // heads split from the sequence
  const Layout nchw16c = parsed("NCHW16c", 4);
  CHECK(nchw16c.order == std::vector<int>{0, 1, 2, 3});
  CHECK(nchw16c.tiles == std::vector<ir::LayoutTile>{{1, 16}});
  const std::pair<const char *, size_t> roundTrips[] = {
      {"NCHW16c", 4}, {"NCHW8c", 4},      {"NHWC8c", 4},         {"OIHW16i16o", 4}, {"NCDHW16c", 5},
      {"NCW8c", 3},   {"(0,1)[1:16]", 2}, {"(1,0)[0:4,1:8]", 2}, {"(0,2,1,3)", 4}};
  for (const auto &[text, rank] : roundTrips) {
    CHECK(parsed(text, rank).toString(rank) == text);
    CHECK(parsed(parsed(text, rank).toString(rank), rank) == parsed(text, rank));
  }
  CHECK(parsed("OIHW16i16o", 4).tiles == std::vector<ir::LayoutTile>{{1, 16}, {0, 16}});
  CHECK(Layout::rowMajor().toString(4) == "(0,1,2,3)");
}

TEST_CASE("Malformed layout texts are rejected with the reason", "[ir][layout]") {
  CHECK_THAT(parseError("(0,0)", 2), Catch::Contains("not a permutation"));
  CHECK_THAT(parseError("(0,1,2)", 4), Catch::Contains("orders 3 dims, the tensor has 4"));
  CHECK_THAT(parseError("NCHW16x", 4), Catch::Contains("names no dim"));
  CHECK_THAT(parseError("NCHW1c", 4), Catch::Contains("at least 2 lanes"));
  CHECK_THAT(parseError("NCH", 4), Catch::Contains("NCHW"));
  CHECK_THAT(parseError("NCHWc", 4), Catch::Contains("expected a tile"));
  CHECK_THAT(parseError("NCHW16c16c", 4), Catch::Contains("twice"));
  CHECK_THAT(parseError("(0,1)[1:16", 2), Catch::Contains("missing ']'"));
  CHECK_THAT(parseError("(0,1)[2:16]", 2), Catch::Contains("tiles dim 2"));
  CHECK_THAT(parseError("", 2), Catch::Contains("empty"));
  CHECK_THAT(parseError("AB", 2), Catch::Contains("ranks 3 to 5"));
}

TEST_CASE("Blocked layouts count their padding lanes", "[ir][layout]") {
  ir::TensorType type(ir::DType::Float32, {1, 24, 5, 5});
  type.layout = Layout::blocked(4, {{1, 16}});
  CHECK(type.layout.physicalShape(type.shape) == ir::Shape{1, 2, 5, 5, 16});
  CHECK(type.numel() == 600);
  CHECK(type.physicalNumel() == 800);
  CHECK(type.bytes() == 3200);
  CHECK(type.logicalBytes() == 2400);
  CHECK(type.toString() == "float32[1x24x5x5] NCHW16c");
  // Channel 17 is lane 1 of block 1: ((0 * 2 + 1) * 5 + 2) * 5 + 3) * 16 + 1.
  CHECK(type.layout.offsetOf(type.shape, {0, 17, 2, 3}) == 609);
  // A permutation costs nothing extra.
  ir::TensorType nhwc(ir::DType::Float32, {1, 24, 5, 5});
  nhwc.layout = Layout::permutation({0, 2, 3, 1});
  CHECK(nhwc.bytes() == 2400);
  CHECK(nhwc.layout.logicalStrides(nhwc.shape) == std::vector<int64_t>{600, 1, 120, 24});
}

TEST_CASE("Every logical element has its own physical slot inside the buffer", "[ir][layout]") {
  const ir::Shape shape{2, 5, 3, 6};
  for (const char *text : {"NCHW", "NHWC", "NCHW4c", "NHWC4c", "OIHW4i2o", "(3,1,0,2)[2:2]"}) {
    const Layout layout = parsed(text, 4);
    REQUIRE(layout.validate(shape).isOk());
    std::set<int64_t> offsets;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 5; ++c)
        for (int64_t h = 0; h < 3; ++h)
          for (int64_t w = 0; w < 6; ++w) {
            const int64_t offset = layout.offsetOf(shape, {n, c, h, w});
            CHECK(offset >= 0);
            CHECK(offset < *layout.physicalNumel(shape));
            offsets.insert(offset);
          }
    CHECK(offsets.size() == 180);
  }
}

TEST_CASE("Layout validation names what is wrong", "[ir][layout]") {
  const ir::Shape shape{1, 24, 5, 5};
  CHECK_THAT(Layout::permutation({0, 0}).validate({2, 2}).message(), Catch::Contains("not a permutation"));
  CHECK_THAT(Layout::blocked(4, {{0, 16}}).validate(shape).message(), Catch::Contains("extent 1"));
  CHECK_THAT(Layout::blocked(4, {{1, 16}, {1, 8}}).validate(shape).message(), Catch::Contains("twice"));
  CHECK_THAT(Layout::blocked(4, {{4, 16}}).validate(shape).message(), Catch::Contains("tiles dim 4"));
  CHECK_THAT(Layout::blocked(2, {{1, int64_t{1} << 40}}).validate({int64_t{1} << 40, 2}).message(),
             Catch::Contains("overflows"));
  CHECK(Layout::blocked(4, {{1, 16}}).validate(shape).isOk());
  CHECK(Layout::identity(4) == Layout::rowMajor());
  CHECK_FALSE(Layout::permutation({1, 0}) == Layout::rowMajor());
}

TEST_CASE("Channel-blocked layouts report their block, every other layout 0", "[ir][layout]") {
  CHECK(parsed("NCHW16c", 4).channelBlock(4) == 16);
  CHECK(parsed("NCHW8c", 4).channelBlock(4) == 8);
  CHECK(parsed("NCDHW16c", 5).channelBlock(5) == 16);
  CHECK(Layout::blocked(4, {{1, 16}}).channelBlock(4) == 16);
  CHECK(parsed("NHWC8c", 4).channelBlock(4) == 0);
  CHECK(parsed("OIHW16i16o", 4).channelBlock(4) == 0);
  CHECK(parsed("(0,2,3,1)", 4).channelBlock(4) == 0);
  CHECK(Layout::rowMajor().channelBlock(4) == 0);
}
