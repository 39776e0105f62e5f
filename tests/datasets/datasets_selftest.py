#!/usr/bin/python3
"""Self-checks of datasets/fluidml_datasets against hand-computed values: the FLOP counter, ConvBERT's unfold-free
dynamic convolution against Hugging Face's unfold formulation, I-BERT's position ids, the rotate_half rotation, the
token inputs, and the generator's caching and all-or-nothing writes.

usage: datasets_selftest.py [WORK_DIR]     exits 0 when all pass, 1 otherwise, 77 without torch / onnx
"""
import dataclasses
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

try:
    import numpy as np
    import onnx
    import torch
    from onnx import TensorProto, helper
except ImportError as error:
    print(f"SKIPPED: {error} (install python3-torch python3-torchvision python3-onnx)")
    sys.exit(77)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "datasets"))
import fluidml_datasets  # noqa: E402
from fluidml_datasets import convbert, gpt_neox, ibert  # noqa: E402
from fluidml_datasets.flops import count_flops  # noqa: E402
from fluidml_datasets.spec import token_inputs  # noqa: E402


def check_flops():
    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("MatMul", ["a", "b"], ["ab"]),  # [2,1,3,4] @ [5,4,6] -> [2,5,3,6]: 2*(2*5)*3*4*6
        helper.make_node("Gemm", ["g", "w"], ["gw"], transB=1),  # [3,8] x [7,8]^T: 2*3*8*7
        helper.make_node("Conv", ["x", "k"], ["y"], group=2, pads=[1, 1, 1, 1]),  # 2 * (1*4*5*5) * (3*3*3)
        helper.make_node("Relu", ["y"], ["r"]),
    ]
    graph = helper.make_graph(nodes, "flops", [
        helper.make_tensor_value_info("a", f, [2, 1, 3, 4]), helper.make_tensor_value_info("b", f, [5, 4, 6]),
        helper.make_tensor_value_info("g", f, [3, 8]), helper.make_tensor_value_info("w", f, [7, 8]),
        helper.make_tensor_value_info("x", f, [1, 6, 5, 5]), helper.make_tensor_value_info("k", f, [4, 3, 3, 3])],
        [helper.make_tensor_value_info(n, f, None) for n in ("ab", "gw", "r")])
    flops = count_flops(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    expected = {"MatMul": 2 * 10 * 3 * 4 * 6, "Gemm": 2 * 3 * 8 * 7, "Conv": 2 * 100 * 27}
    expected["total"] = sum(expected.values())
    assert flops == expected, f"{flops} != {expected}"


def check_convbert_matches_unfold():
    torch.manual_seed(0)
    config = dict(convbert.TINY_CONFIG)
    attention = convbert.build(config).encoder[0].attention_self
    x = torch.randn(1, 16, 64)
    with torch.no_grad():
        projected = attention.conv_out_layer(x)
        ours = attention.neighbourhoods(projected)
        pad = (attention.kernel_size - 1) // 2
        unfolded = torch.nn.functional.unfold(projected.transpose(1, 2).unsqueeze(-1),
                                              kernel_size=[attention.kernel_size, 1], padding=[pad, 0])
        theirs = unfolded.transpose(1, 2).reshape(1, 16, attention.all_head_size, attention.kernel_size)
    assert torch.equal(ours, theirs), "neighbourhoods differ from unfold"
    assert float(ours[0, 0, 5, 0]) == 0.0 and float(ours[0, 0, 5, pad]) == float(projected[0, 0, 5])


def check_ibert_positions():
    ids = torch.tensor([[0, 7, 9, 2, 1, 1]])
    positions = ibert.position_ids_from_input_ids(ids, padding_idx=1)
    assert positions.tolist() == [[2, 3, 4, 5, 1, 1]], positions.tolist()


def check_rotate_half():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert gpt_neox.rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]


def check_token_inputs():
    config = dict(vocab_size=50, seq_len=16)
    named = dict(token_inputs(config, np.random.default_rng(0), ("input_ids", "attention_mask", "token_type_ids"),
                              first_id=3, last_id=4, pad_id=0))
    ids, mask = named["input_ids"][0], named["attention_mask"][0]
    assert ids.dtype == np.int64 and ids.shape == (16,) and ids.max() < 50
    assert mask.tolist() == [1] * 14 + [0] * 2, mask.tolist()
    assert ids[0] == 3 and ids[13] == 4 and ids[14:].tolist() == [0, 0]
    assert not np.isin(ids[1:13], [0, 3, 4]).any()
    assert not named["token_type_ids"].any()


def check_generator(work: Path):
    spec = fluidml_datasets.all_datasets()["mobilenet-v2-tiny"]
    out = work / "mobilenet"
    meta, made = fluidml_datasets.generate(spec, out, seed=3)
    assert made and meta["seed"] == 3 and meta["generator_version"] == fluidml_datasets.GENERATOR_VERSION
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "model.onnx", "test_data_set_0"]
    assert sorted(p.name for p in (out / "test_data_set_0").iterdir()) == ["input_0.pb", "output_0.pb"]
    onnx.checker.check_model(str(out / "model.onnx"))
    assert meta["inputs"] == [{"name": "pixel_values", "dtype": "float32", "shape": [1, 3, 64, 64]}]
    assert meta["flops"]["Conv"] > 0 and meta["flops"]["Gemm"] == 2 * 1280 * 10

    stamp = (out / "model.onnx").stat().st_mtime_ns
    _, made = fluidml_datasets.generate(spec, out, seed=3)
    assert not made and (out / "model.onnx").stat().st_mtime_ns == stamp, "a cached dataset was remade"

    # A failing build leaves the previous dataset in place and no partial folder behind.
    def failing_build(config):
        raise RuntimeError("boom")

    broken = dataclasses.replace(spec, build=failing_build)
    try:
        fluidml_datasets.generate(broken, out, seed=3, force=True)
        raise AssertionError("a failing build did not raise")
    except RuntimeError:
        pass
    assert (out / "meta.json").exists() and sorted(p.name for p in work.iterdir()) == ["mobilenet"]

    # A directory that is not a dataset is never replaced without force.
    other = work / "not-a-dataset"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    try:
        fluidml_datasets.generate(spec, other, seed=3)
        raise AssertionError("a foreign directory was replaced")
    except FileExistsError:
        pass
    assert (other / "keep.txt").read_text() == "mine"


def main() -> int:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fluidml-datasets-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    checks = [check_flops, check_convbert_matches_unfold, check_ibert_positions, check_rotate_half,
              check_token_inputs, lambda: check_generator(work)]
    names = ["flops", "convbert-unfold", "ibert-positions", "rotate-half", "token-inputs", "generator"]
    failed = 0
    for name, check in zip(names, checks):
        try:
            check()
            print(f"PASS {name}")
        except Exception:  # noqa: BLE001  (report every failing check, not just the first)
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}")
    if len(sys.argv) <= 1:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
