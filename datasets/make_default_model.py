#!/usr/bin/python3
"""Writes fluidml's default demo model: one BERT-style encoder layer built with onnx.helper.

It is small (hidden 64, 4 heads, FFN 256) but has what real exporter output has: a symbolic sequence
dimension, a shape-computing subgraph (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) that the importer
must fold, attention with Softmax and a mask, erf-GELU and LayerNormalization. Fixed seed, no downloads.

usage: /usr/bin/python3 datasets/make_default_model.py OUT.onnx [--seq 16]
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN, HEADS, FFN = 64, 4, 256
HEAD_DIM = HIDDEN // HEADS


def build(seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = []

    def weight(name, shape, scale=0.05):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def const(name, values, dtype=np.int64):
        inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    nodes = []

    def node(op, inputs, outputs, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{len(nodes)}", **attrs))
        return outputs[0]

    x = "hidden_states"
    # Shape subgraph: [batch, seq] from the input, then reshape to [batch, seq, heads, head_dim].
    shape = node("Shape", [x], ["x_shape"])
    batch = node("Gather", [shape, const("idx0", 0)], ["batch"], axis=0)
    seq = node("Gather", [shape, const("idx1", 1)], ["seq"], axis=0)
    batch1 = node("Unsqueeze", [batch, const("axes0", [0])], ["batch_1d"])
    seq1 = node("Unsqueeze", [seq, const("axes0b", [0])], ["seq_1d"])
    heads_shape = node("Concat", [batch1, seq1, const("heads_dims", [HEADS, HEAD_DIM])], ["heads_shape"], axis=0)
    merged_shape = node("Concat", [batch1, seq1, const("hidden_dim", [HIDDEN])], ["merged_shape"], axis=0)

    def project(name, src):
        mm = node("MatMul", [src, weight(f"{name}.weight", (HIDDEN, HIDDEN))], [f"{name}_mm"])
        return node("Add", [mm, weight(f"{name}.bias", (HIDDEN,))], [f"{name}_out"])

    def split_heads(name, src, perm):
        r = node("Reshape", [src, heads_shape], [f"{name}_heads"])
        return node("Transpose", [r], [f"{name}_t"], perm=perm)

    q = split_heads("q", project("query", x), [0, 2, 1, 3])
    k = split_heads("k", project("key", x), [0, 2, 3, 1])
    v = split_heads("v", project("value", x), [0, 2, 1, 3])
    scores = node("MatMul", [q, k], ["scores"])
    scaled = node("Div", [scores, const("sqrt_d", np.sqrt(HEAD_DIM), np.float32)], ["scaled"])
    # Additive mask from a 0/1 attention mask: (1 - mask) * -10000, broadcast over heads and query positions.
    mask_f = node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    mask_4d = node("Unsqueeze", [mask_f, const("mask_axes", [1, 2])], ["mask_4d"])
    inverted = node("Sub", [const("one", 1.0, np.float32), mask_4d], ["inverted"])
    additive = node("Mul", [inverted, const("neg_big", -10000.0, np.float32)], ["additive"])
    masked = node("Add", [scaled, additive], ["masked"])
    probs = node("Softmax", [masked], ["probs"], axis=-1)
    context = node("MatMul", [probs, v], ["context"])
    context_t = node("Transpose", [context], ["context_t"], perm=[0, 2, 1, 3])
    merged = node("Reshape", [context_t, merged_shape], ["merged"])
    attn_out = project("attention.output", merged)
    res1 = node("Add", [attn_out, x], ["residual1"])
    ln1 = node("LayerNormalization", [res1, weight("ln1.gamma", (HIDDEN,), 1.0), weight("ln1.beta", (HIDDEN,))],
               ["ln1"], axis=-1, epsilon=1e-12)
    # Feed-forward with erf GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
    up = node("Add", [node("MatMul", [ln1, weight("ffn.up.weight", (HIDDEN, FFN))], ["up_mm"]),
                      weight("ffn.up.bias", (FFN,))], ["up"])
    erf = node("Erf", [node("Div", [up, const("sqrt2", np.sqrt(2.0), np.float32)], ["up_scaled"])], ["erf"])
    gelu = node("Mul", [node("Mul", [up, node("Add", [erf, const("one_b", 1.0, np.float32)], ["erf1"])], ["gx"]),
                        const("half", 0.5, np.float32)], ["gelu"])
    down = node("Add", [node("MatMul", [gelu, weight("ffn.down.weight", (FFN, HIDDEN))], ["down_mm"]),
                        weight("ffn.down.bias", (HIDDEN,))], ["down"])
    res2 = node("Add", [down, ln1], ["residual2"])
    node("LayerNormalization", [res2, weight("ln2.gamma", (HIDDEN,), 1.0), weight("ln2.beta", (HIDDEN,))],
         ["last_hidden_state"], axis=-1, epsilon=1e-12)

    graph = helper.make_graph(
        nodes, "encoder_layer",
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, ["batch", "seq", HIDDEN]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fluidml-datasets")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    onnx.save(build(args.seed), args.out)


if __name__ == "__main__":
    main()
