#include "core/interp/interpreter.h"

#include <cstring>
#include <memory>
#include <new>

#include "core/ops/op_registry.h"

namespace fluidml::interp {

namespace {

/// One aligned allocation for a planned run's arena.
struct ArenaDeleter {
  std::align_val_t alignment;
  void operator()(std::byte *p) const { ::operator delete[](p, alignment); }
};
using ArenaPtr = std::unique_ptr<std::byte[], ArenaDeleter>;

ArenaPtr allocateArena(size_t bytes, size_t alignment) {
  const std::align_val_t align{alignment < 64 ? 64 : alignment};
  // Never empty, so that views of zero-byte tensors still get a non-null address.
  const size_t size = bytes + static_cast<size_t>(align);
  ArenaPtr arena(static_cast<std::byte *>(::operator new[](size, align)), ArenaDeleter{align});
  // A NaN / -1 pattern instead of zeros: a kernel that reads its output before writing it shows up as a
  // mismatch against the unplanned run instead of passing by luck.
  std::memset(arena.get(), 0xFF, size);
  return arena;
}

}  // namespace

Status checkInputs(const ir::Graph &graph, const std::vector<ir::Tensor> &inputs) {
  if (inputs.size() != graph.inputs().size())
    return Status::error("the model has " + std::to_string(graph.inputs().size()) + " inputs, got " +
                         std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value &v = graph.value(graph.inputs()[i]);
    if (inputs[i].dtype() != v.type.dtype)
      return Status::error("input '" + v.name + "' must be " + std::string(ir::dtypeName(v.type.dtype)) + ", got " +
                           std::string(ir::dtypeName(inputs[i].dtype())));
    if (inputs[i].shape() != v.type.shape)
      return Status::error("input '" + v.name + "' must have shape " + ir::shapeToString(v.type.shape) + ", got " +
                           ir::shapeToString(inputs[i].shape()));
  }
  return Status::ok();
}

Interpreter::Interpreter(const ir::Graph &graph, const analysis::MemoryPlan *plan)
    : graph_(graph), lastUse_(graph.valueCapacity(), 0) {
  const auto &order = graph.order();
  for (size_t step = 0; step < order.size(); ++step)
    for (ir::ValueId in : graph.node(order[step]).inputs)
      if (in != ir::kNoValue) lastUse_[static_cast<size_t>(in)] = step;
  if (plan != nullptr) {
    assert(plan->storage.size() == graph.valueCapacity() && "the plan was made for another graph");
    plan_ = *plan;
  }
}

Expected<std::vector<ir::Tensor>> Interpreter::run(const std::vector<ir::Tensor> &inputs) const {
  FLUIDML_RETURN_IF_ERROR(checkInputs(graph_, inputs));
  std::vector<ir::Tensor> values(graph_.valueCapacity());
  for (size_t i = 0; i < inputs.size(); ++i) values[static_cast<size_t>(graph_.inputs()[i])] = inputs[i];
  for (ir::ValueId c : graph_.constants()) values[static_cast<size_t>(c)] = graph_.value(c).constant;

  ArenaPtr arena(nullptr, ArenaDeleter{std::align_val_t{64}});
  if (plan_) arena = allocateArena(plan_->arenaBytes, plan_->alignment);
  auto storageOf = [&](ir::ValueId v) -> const analysis::ValueStorage & {
    return plan_->storage[static_cast<size_t>(v)];
  };
  // Operands are only read, but Tensor::view takes mutable memory; views of inputs and constants are never
  // written because the plan puts no in-place value over them.
  auto memoryOf = [&](ir::ValueId v) { return const_cast<void *>(values[static_cast<size_t>(v)].rawData()); };

  const auto &order = graph_.order();
  const int64_t opset = graph_.opsetVersion("");
  for (size_t step = 0; step < order.size(); ++step) {
    const ir::Node &node = graph_.node(order[step]);
    const ops::OpSchema *schema = ops::OpRegistry::instance().find(node.domain, node.opType);
    if (schema == nullptr) return Status::error(ops::describeNode(node) + ": unsupported operator");
    ops::KernelContext context{node, node.domain.empty() ? opset : graph_.opsetVersion(node.domain), {}, {}};
    for (ir::ValueId in : node.inputs) {
      if (in != ir::kNoValue && values[static_cast<size_t>(in)].isNull())
        return Status::error(ops::describeNode(node) + ": input '" + graph_.value(in).name + "' has no value");
      context.inputs.push_back(in == ir::kNoValue ? nullptr : &values[static_cast<size_t>(in)]);
    }
    // A planned view: output 0 relabels operand 0's bytes and the kernel does not run.
    const bool planned = plan_.has_value();
    const bool isView = planned && node.output(0) != ir::kNoValue &&
                        storageOf(node.output(0)).kind == analysis::StorageKind::View;
    if (isView) {
      const ir::TensorType &type = graph_.value(node.output(0)).type;
      values[static_cast<size_t>(node.output(0))] =
          ir::Tensor::view(type.dtype, type.shape, memoryOf(storageOf(node.output(0)).aliasOf));
    } else {
      for (ir::ValueId out : node.outputs) {
        if (out == ir::kNoValue) {
          context.outputs.push_back(nullptr);
          continue;
        }
        const ir::TensorType &type = graph_.value(out).type;
        ir::Tensor &tensor = values[static_cast<size_t>(out)];
        const analysis::StorageKind kind = planned ? storageOf(out).kind : analysis::StorageKind::External;
        if (kind == analysis::StorageKind::Arena)
          tensor = ir::Tensor::view(type.dtype, type.shape, arena.get() + plan_->offsetOf(out));
        else if (kind == analysis::StorageKind::InPlace)
          tensor = ir::Tensor::view(type.dtype, type.shape, memoryOf(storageOf(out).aliasOf));
        else
          tensor = ir::Tensor::zeros(type.dtype, type.shape);
        context.outputs.push_back(&tensor);
      }
      Status status = schema->kernel(context);
      if (!status.isOk()) return status.withContext(ops::describeNode(node));
    }
    // Free what no later node reads (graph outputs are kept). Planned values are views: this only drops them.
    for (ir::ValueId in : node.inputs)
      if (in != ir::kNoValue && lastUse_[static_cast<size_t>(in)] == step && !graph_.isGraphOutput(in) &&
          graph_.value(in).producer != ir::kNoNode)
        values[static_cast<size_t>(in)] = ir::Tensor();
  }

  std::vector<ir::Tensor> outputs;
  for (ir::ValueId out : graph_.outputs()) outputs.push_back(values[static_cast<size_t>(out)]);
  return outputs;
}

}  // namespace fluidml::interp
