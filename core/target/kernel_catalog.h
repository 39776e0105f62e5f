// The kernel catalog: for a node of a graph, the ways its kernel can run (the layouts it reads and writes, and
// the implementation), and what each way costs at a thread count. This is the interface the layout passes query
// (pass::PassContext::catalog); it has no LLVM: core/codegen implements it (codegen/measured_catalog.h), by
// compiling the node alone and timing it, with an analytic fallback.
//
// Candidate layouts per operand that is a non-constant float32 tensor of rank >= 2: row-major; for rank 4,
// channels-last (0,2,3,1) and channel-blocked NCHW[B]c with B the target's float lanes; for rank-4 MatMul
// operands the head-split order (0,2,1,3); for rank 2 the transpose (1,0). Layouts that store the same bytes as
// row-major (a permutation that only moves dims of extent 1) are left out.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/support/status.h"

namespace fluidml::target {

/// One way a node's kernel can run: the layout of each of its inputs and outputs (row-major for constants and
/// omitted operands), and the implementation, "<op>/<family>": "Conv/blocked", "Conv/writes-blocked",
/// "MatMul/head-split", "fluidml.Relayout/convert".
struct KernelVariant {
  std::vector<ir::Layout> inputs;
  std::vector<ir::Layout> outputs;
  std::string implementation;

  /// "NCHW8c,row-major->NCHW8c": the layouts of the node's operands that are not constants, read -> written.
  std::string layoutsText(const ir::Graph &graph, const ir::Node &node) const;
  bool operator==(const KernelVariant &other) const = default;
};

/// What one call of a variant costs.
struct KernelCost {
  double nanoseconds = 0;  // median time of one call (measured), or the roofline estimate (analytic)
  std::string source;      // "measured" or "analytic"
  bool cached = false;     // read from the cost cache rather than measured or estimated now
  std::string strategy;    // the strategy the kernel took when measured (CompiledModel::kernelStrategies), or ""
  std::string note;        // why the cost is analytic (measuring disabled, or what failed), else ""
};

class KernelCatalog {
 public:
  virtual ~KernelCatalog() = default;
  /// The variants of `node` that its kernel accepts, row-major first (always present for a lowered op); empty
  /// when the op has no code generation. For fluidml.Relayout: every conversion between two different
  /// candidate layouts of its tensor (`inputs` = from, `outputs` = to; none when the tensor has one candidate).
  virtual std::vector<KernelVariant> variants(const ir::Graph &graph, const ir::Node &node) const = 0;
  /// The cost of one call of `variant` of `node` on a thread pool of `threads` threads.
  virtual Expected<KernelCost> cost(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant,
                                    int threads) const = 0;
  /// The cost of converting a tensor of `type` (its layout ignored) from `from` to `to` with a standalone
  /// fluidml.Relayout: cost() of conversionVariant on the node of conversionGraph.
  Expected<KernelCost> conversionCost(const ir::TensorType &type, const ir::Layout &from, const ir::Layout &to,
                                      int threads) const;
};

/// A graph holding one fluidml.Relayout of a graph input of `type` (its layout ignored): the node whose
/// variants are the conversions of tensors of that type.
ir::Graph conversionGraph(const ir::TensorType &type);
/// The conversion `from` -> `to` as a variant of a fluidml.Relayout node ("fluidml.Relayout/convert").
KernelVariant conversionVariant(const ir::Layout &from, const ir::Layout &to);

/// The candidate layouts of a tensor of `type` (its layout ignored), row-major first; `blockLanes` is the block
/// of NCHW[B]c (the target's float lanes), `matmulOperand` adds the head-split order for rank 4.
std::vector<ir::Layout> candidateLayouts(const ir::TensorType &type, int64_t blockLanes, bool matmulOperand);

/// True when `layout` stores a tensor of `shape` exactly as row-major does (no tiles; the dims of extent > 1 keep
/// their relative order).
bool storesLikeRowMajor(const ir::Layout &layout, const ir::Shape &shape);

/// candidateLayouts of a value of `graph`, with the head-split order when a MatMul makes or reads it; only
/// row-major for constants, integer tensors and ranks below 2.
std::vector<ir::Layout> valueCandidates(const ir::Graph &graph, ir::ValueId value, int64_t blockLanes);

// --- for implementations -------------------------------------------------------------------------------------

/// Whether a node's kernel reads and writes its operands' layouts (codegen::checkNodeLayouts in practice).
using LayoutAcceptance = std::function<Status(const ir::Graph &, const ir::Node &)>;

/// A graph of `node` alone with its operands in `variant`'s layouts: its constants (buffers shared), its other
/// inputs as graph inputs, its present outputs as graph outputs. For layout checks, not for running (graph
/// inputs and outputs keep the variant's layouts).
ir::Graph probeGraph(const ir::Graph &graph, const ir::Node &node, const KernelVariant &variant);

/// The variants of `node` that `accepts` accepts (see the file comment of kernel_catalog.cpp for the order),
/// at most `maxVariants`.
std::vector<KernelVariant> enumerateVariants(const ir::Graph &graph, const ir::Node &node, int64_t blockLanes,
                                             const LayoutAcceptance &accepts, size_t maxVariants = 16);

}  // namespace fluidml::target
