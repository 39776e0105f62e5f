"""FLOPs of the compute-heavy operators of an ONNX graph with static shapes, counted from the graph itself.

Counted: MatMul, Gemm and Conv, 2 FLOPs per multiply-add (bias additions and everything else are left out, as in
the usual published figures). Shapes come from onnx.shape_inference; an operator whose operand shapes are not
fully static is an error, not a silent zero.
"""
from typing import Dict, List

import numpy as np
import onnx
from onnx import shape_inference


def _static_shapes(model: onnx.ModelProto) -> Dict[str, List[int]]:
    inferred = shape_inference.infer_shapes(model)
    graph = inferred.graph
    shapes = {init.name: list(init.dims) for init in graph.initializer}
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        if all(d is not None for d in dims):
            shapes[info.name] = dims
    for node in graph.node:  # Constant nodes carry their shape in the attribute
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes[node.output[0]] = list(attr.t.dims)
    return shapes


def _shape(shapes: Dict[str, List[int]], name: str, node: onnx.NodeProto) -> List[int]:
    if name not in shapes:
        raise ValueError(f"FLOP count: the shape of '{name}' (input of {node.op_type} '{node.name}') is not static")
    return shapes[name]


def _matmul_flops(a: List[int], b: List[int]) -> int:
    # numpy matmul semantics: 1-D operands get a unit dimension; leading dimensions broadcast.
    a = [1] + a if len(a) == 1 else a
    b = b + [1] if len(b) == 1 else b
    batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    return 2 * int(np.prod(batch, dtype=np.int64)) * a[-2] * a[-1] * b[-1]


def count_flops(model: onnx.ModelProto) -> Dict[str, int]:
    """{"MatMul": n, "Gemm": n, "Conv": n, "total": n}."""
    shapes = _static_shapes(model)
    totals = {"MatMul": 0, "Gemm": 0, "Conv": 0}
    for node in model.graph.node:
        if node.op_type == "MatMul":
            totals["MatMul"] += _matmul_flops(_shape(shapes, node.input[0], node), _shape(shapes, node.input[1], node))
        elif node.op_type == "Gemm":
            a = _shape(shapes, node.input[0], node)
            b = _shape(shapes, node.input[1], node)
            attrs = {attr.name: attr.i for attr in node.attribute if attr.name in ("transA", "transB")}
            m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
            n = b[0] if attrs.get("transB", 0) else b[1]
            totals["Gemm"] += 2 * m * k * n
        elif node.op_type == "Conv":
            weight = _shape(shapes, node.input[1], node)  # [out, in / group, *kernel]
            out = _shape(shapes, node.output[0], node)  # [batch, out, *spatial]
            totals["Conv"] += 2 * int(np.prod(out, dtype=np.int64)) * int(np.prod(weight[1:], dtype=np.int64))
    totals["total"] = sum(totals.values())
    return totals
