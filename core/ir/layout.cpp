#include "core/ir/layout.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace fluidml::ir {

namespace {

/// Letter names of the dims of ranks 3 to 5: activations, then weights.
constexpr std::string_view kActivationLetters[] = {"NCW", "NCHW", "NCDHW"};
constexpr std::string_view kWeightLetters[] = {"OIW", "OIHW", "OIDHW"};

std::string_view lettersFor(size_t rank) { return rank >= 3 && rank <= 5 ? kActivationLetters[rank - 3] : ""; }

bool multiplyChecked(int64_t a, int64_t b, int64_t &out) { return !__builtin_mul_overflow(a, b, &out); }

std::string tupleText(const std::vector<int> &order) {
  std::string s = "(";
  for (size_t i = 0; i < order.size(); ++i) s += (i ? "," : "") + std::to_string(order[i]);
  return s + ")";
}

Status parseError(std::string_view text, size_t rank, const std::string &why) {
  return Status::error("layout '" + std::string(text) + "' for a tensor of rank " + std::to_string(rank) + ": " +
                       why + " (examples: '(0,2,3,1)', 'NCHW16c', 'NHWC', 'OIHW16i16o', '(1,0)', 'row-major')");
}

/// Letter form: upper-case outer dims, then <size><lower-case dim> tiles.
Expected<Layout> parseLetters(std::string_view text, size_t rank) {
  std::string outer;
  size_t i = 0;
  while (i < text.size() && std::isupper(static_cast<unsigned char>(text[i]))) outer += text[i++];
  std::string_view alphabet;
  for (std::string_view candidate : {lettersFor(rank), rank >= 3 && rank <= 5 ? kWeightLetters[rank - 3] : ""}) {
    std::string sortedOuter = outer, sortedCandidate(candidate);
    std::sort(sortedOuter.begin(), sortedOuter.end());
    std::sort(sortedCandidate.begin(), sortedCandidate.end());
    if (!candidate.empty() && sortedOuter == sortedCandidate) alphabet = candidate;
  }
  if (alphabet.empty()) {
    if (rank < 3 || rank > 5) return parseError(text, rank, "letter names exist for ranks 3 to 5 only; use '(...)'");
    return parseError(text, rank,
                      "the upper-case letters must name each dim of " + std::string(lettersFor(rank)) + " or " +
                          std::string(kWeightLetters[rank - 3]) + " once");
  }
  Layout layout;
  for (char c : outer) layout.order.push_back(static_cast<int>(alphabet.find(c)));
  while (i < text.size()) {
    size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == i || digits - i > 9 || digits >= text.size() ||
        !std::islower(static_cast<unsigned char>(text[digits])))
      return parseError(text, rank, "expected a tile such as '16c' at '" + std::string(text.substr(i)) + "'");
    const size_t dim = alphabet.find(static_cast<char>(std::toupper(static_cast<unsigned char>(text[digits]))));
    if (dim == std::string_view::npos)
      return parseError(text, rank, "tile letter '" + std::string(1, text[digits]) + "' names no dim");
    layout.tiles.push_back({static_cast<int>(dim), std::stoll(std::string(text.substr(i, digits - i)))});
    i = digits + 1;
  }
  return layout;
}

/// Reads comma-separated integers up to `close`; advances `i` past it.
bool readIntegers(std::string_view text, size_t &i, char close, std::vector<std::string> &items) {
  std::string item;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == close) {
      items.push_back(item);
      ++i;
      return true;
    }
    if (c == ',') {
      items.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return false;
}

bool parseInt(const std::string &s, int64_t &out) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return false;
  out = std::stoll(s);
  return true;
}

/// Tuple form: "(0,2,3,1)" optionally followed by "[dim:size,...]".
Expected<Layout> parseTuple(std::string_view text, size_t rank) {
  size_t i = 1;
  std::vector<std::string> items;
  if (!readIntegers(text, i, ')', items)) return parseError(text, rank, "missing ')'");
  Layout layout;
  if (!(items.size() == 1 && items[0].empty()))
    for (const std::string &item : items) {
      int64_t v = 0;
      if (!parseInt(item, v)) return parseError(text, rank, "'" + item + "' is not a dim index");
      layout.order.push_back(static_cast<int>(v));
    }
  if (i < text.size()) {
    if (text[i] != '[') return parseError(text, rank, "unexpected '" + std::string(text.substr(i)) + "'");
    ++i;
    items.clear();
    if (!readIntegers(text, i, ']', items)) return parseError(text, rank, "missing ']'");
    if (i != text.size()) return parseError(text, rank, "unexpected '" + std::string(text.substr(i)) + "'");
    for (const std::string &item : items) {
      const size_t colon = item.find(':');
      int64_t dim = 0, size = 0;
      if (colon == std::string::npos || !parseInt(item.substr(0, colon), dim) || !parseInt(item.substr(colon + 1), size))
        return parseError(text, rank, "tile '" + item + "' is not dim:size");
      layout.tiles.push_back({static_cast<int>(dim), size});
    }
  }
  return layout;
}

}  // namespace

Layout Layout::identity(size_t rank) {
  Layout layout;
  for (size_t i = 0; i < rank; ++i) layout.order.push_back(static_cast<int>(i));
  return layout;
}

Layout Layout::blocked(size_t rank, std::vector<LayoutTile> tiles) {
  Layout layout = identity(rank);
  layout.tiles = std::move(tiles);
  return layout;
}

bool Layout::isRowMajor() const {
  if (!tiles.empty()) return false;
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] != static_cast<int>(i)) return false;
  return true;
}

int64_t Layout::channelBlock(size_t rank) const {
  if (rank < 2 || tiles.size() != 1 || tiles[0].dim != 1) return 0;
  for (size_t i = 0; i < order.size(); ++i)
    if (order[i] != static_cast<int>(i)) return 0;
  if (!order.empty() && order.size() != rank) return 0;
  return tiles[0].size;
}

bool Layout::operator==(const Layout &other) const {
  if (tiles != other.tiles) return false;
  if (order.empty() || other.order.empty()) {
    const std::vector<int> &spelled = order.empty() ? other.order : order;
    for (size_t i = 0; i < spelled.size(); ++i)
      if (spelled[i] != static_cast<int>(i)) return false;
    return true;
  }
  return order == other.order;
}

std::vector<int> Layout::outerOrder(size_t rank) const { return order.size() == rank ? order : identity(rank).order; }

int64_t Layout::tileOf(int dim) const {
  for (const LayoutTile &tile : tiles)
    if (tile.dim == dim) return tile.size;
  return 0;
}

Status Layout::validate(const Shape &shape) const {
  const size_t rank = shape.size();
  if (!order.empty()) {
    if (order.size() != rank)
      return Status::error("layout " + toString() + " orders " + std::to_string(order.size()) + " dims, the tensor has " +
                           std::to_string(rank));
    std::vector<bool> seen(rank, false);
    for (int d : order) {
      if (d < 0 || static_cast<size_t>(d) >= rank || seen[static_cast<size_t>(d)])
        return Status::error("layout " + toString() + " is not a permutation of the tensor's " + std::to_string(rank) +
                             " dims");
      seen[static_cast<size_t>(d)] = true;
    }
  }
  std::vector<bool> tiled(rank, false);
  for (const LayoutTile &tile : tiles) {
    if (tile.dim < 0 || static_cast<size_t>(tile.dim) >= rank)
      return Status::error("layout " + toString(rank) + " tiles dim " + std::to_string(tile.dim) +
                           ", the tensor has " + std::to_string(rank) + " dims");
    if (tiled[static_cast<size_t>(tile.dim)])
      return Status::error("layout " + toString(rank) + " tiles dim " + std::to_string(tile.dim) + " twice");
    tiled[static_cast<size_t>(tile.dim)] = true;
    if (tile.size < 2)
      return Status::error("layout " + toString(rank) + " has a tile of size " + std::to_string(tile.size) +
                           " (tiles hold at least 2 lanes)");
    if (shape[static_cast<size_t>(tile.dim)] == 1)
      return Status::error("layout " + toString(rank) + " tiles dim " + std::to_string(tile.dim) +
                           " of extent 1 (size-1 dims stay untiled)");
  }
  if (!physicalNumel(shape)) return Status::error("layout " + toString(rank) + " of shape overflows 64-bit sizes");
  return Status::ok();
}

Shape Layout::physicalShape(const Shape &shape) const {
  Shape physical;
  for (int d : outerOrder(shape.size())) {
    const int64_t extent = shape[static_cast<size_t>(d)];
    const int64_t tile = tileOf(d);
    physical.push_back(tile == 0 ? extent : (extent + tile - 1) / tile);
  }
  for (const LayoutTile &tile : tiles) physical.push_back(tile.size);
  return physical;
}

std::optional<int64_t> Layout::physicalNumel(const Shape &shape) const {
  for (int64_t d : shape)
    if (d < 0) return std::nullopt;
  int64_t n = 1;
  for (int64_t d : physicalShape(shape))
    if (!multiplyChecked(n, d, n)) return std::nullopt;
  return n;
}

std::vector<DimAccess> Layout::dimAccess(const Shape &shape) const {
  const Shape physical = physicalShape(shape);
  std::vector<int64_t> physicalStrides(physical.size(), 1);
  for (size_t p = physical.size(); p-- > 1;) physicalStrides[p - 1] = physicalStrides[p] * physical[p];
  const std::vector<int> outer = outerOrder(shape.size());
  std::vector<DimAccess> access(shape.size());
  for (size_t p = 0; p < outer.size(); ++p) access[static_cast<size_t>(outer[p])].outerStride = physicalStrides[p];
  for (size_t t = 0; t < tiles.size(); ++t) {
    DimAccess &a = access[static_cast<size_t>(tiles[t].dim)];
    a.tile = tiles[t].size;
    a.innerStride = physicalStrides[outer.size() + t];
  }
  return access;
}

std::vector<int64_t> Layout::logicalStrides(const Shape &shape) const {
  std::vector<int64_t> strides;
  for (const DimAccess &a : dimAccess(shape)) strides.push_back(a.outerStride);
  return strides;
}

int64_t Layout::offsetOf(const Shape &shape, const std::vector<int64_t> &index) const {
  const std::vector<DimAccess> access = dimAccess(shape);
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    const DimAccess &a = access[d];
    offset += a.tile == 0 ? index[d] * a.outerStride
                          : (index[d] / a.tile) * a.outerStride + (index[d] % a.tile) * a.innerStride;
  }
  return offset;
}

std::string Layout::toString(size_t rank) const {
  const std::vector<int> outer = outerOrder(rank);
  // Activations never tile the batch, weights tile their output channels: a tile on dim 0 reads as OIHW.
  const bool weights = std::any_of(tiles.begin(), tiles.end(), [](const LayoutTile &t) { return t.dim == 0; });
  const std::string_view letters = weights && rank >= 3 && rank <= 5 ? kWeightLetters[rank - 3] : lettersFor(rank);
  bool lettersFit = !tiles.empty() && !letters.empty();
  for (const LayoutTile &tile : tiles)
    if (tile.dim < 0 || static_cast<size_t>(tile.dim) >= rank) lettersFit = false;
  for (int d : outer)
    if (d < 0 || static_cast<size_t>(d) >= rank) lettersFit = false;
  if (lettersFit && outer.size() == rank) {
    std::string s;
    for (int d : outer) s += letters[static_cast<size_t>(d)];
    for (const LayoutTile &tile : tiles)
      s += std::to_string(tile.size) +
           static_cast<char>(std::tolower(static_cast<unsigned char>(letters[static_cast<size_t>(tile.dim)])));
    return s;
  }
  std::string s = tupleText(outer);
  if (!tiles.empty()) {
    s += "[";
    for (size_t t = 0; t < tiles.size(); ++t)
      s += (t ? "," : "") + std::to_string(tiles[t].dim) + ":" + std::to_string(tiles[t].size);
    s += "]";
  }
  return s;
}

std::string Layout::toString() const {
  size_t rank = order.size();
  if (rank == 0)
    for (const LayoutTile &tile : tiles) rank = std::max(rank, static_cast<size_t>(std::max(tile.dim, 0)) + 1);
  return toString(rank);
}

Expected<Layout> parseLayout(std::string_view text, size_t rank) {
  if (text == "row-major") return Layout::rowMajor();
  if (text.empty()) return parseError(text, rank, "empty");
  Expected<Layout> parsed = text[0] == '(' ? parseTuple(text, rank) : parseLetters(text, rank);
  if (!parsed) return parsed;
  Shape probe(rank, 2);  // a shape on which every well-formed layout of this rank validates
  Status valid = parsed->validate(probe);
  if (!valid.isOk()) return parseError(text, rank, valid.message());
  return parsed;
}

}  // namespace fluidml::ir
