"""A tiny stand-in with the reader graph's interface, for testing the page's plumbing only.

Input `ink` (N, 280, 280) float32, 0 = paper, 1 = ink; every output demo.reader expects:
probabilities (N, 10), row_probabilities (N, 28, 10), image (N, 28, 28) 0..255, logits,
row_logits, stroke_width and ink_found (N,). It averages the ink down to 28x28 and reads it
with fixed random weights: its answers mean nothing. It lets the browser's road (routes,
config, fallbacks) be checked without exporting a model. Never shipped.
"""

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIDE, SIZE, CLASSES = 280, 28, 10
CARD = {
    "format": "hrnn-mnist-card/2",
    "precision": "float32",
    "class_names": [str(k) for k in range(CLASSES)],
    "input": {"name": "ink", "image_size": SIZE, "digit_box": 20, "pixel_scale": 255.0},
    "calibration": {"temperature": 1.0, "wide_from": 3.0, "wide_power": 0.0, "sure_at": 0.5},
}


def _value(name: str, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def build(out: Path, seed: int = 0) -> Path:
    """Write the stand-in to `out`."""
    rng = np.random.default_rng(seed)
    weights = {
        "w_all": rng.normal(0, 0.2, (SIZE * SIZE, CLASSES)).astype(np.float32),
        "w_row": rng.normal(0, 0.5, (SIZE, CLASSES)).astype(np.float32),
        "k255": np.array(255.0, np.float32),
        "zero": np.array(0.0, np.float32),
        "axis1": np.array([1], np.int64),
        "axes12": np.array([1, 2], np.int64),
        "flat": np.array([-1, SIZE * SIZE], np.int64),
    }
    factor = SIDE // SIZE
    nodes = [
        helper.make_node("Unsqueeze", ["ink", "axis1"], ["ink4"]),
        helper.make_node(
            "AveragePool", ["ink4"], ["pool"], kernel_shape=[factor] * 2, strides=[factor] * 2
        ),
        helper.make_node("Squeeze", ["pool", "axis1"], ["plane"]),
        helper.make_node("Mul", ["plane", "k255"], ["image"]),
        helper.make_node("Reshape", ["plane", "flat"], ["flat_in"]),
        helper.make_node("MatMul", ["flat_in", "w_all"], ["logits"]),
        helper.make_node("CumSum", ["plane", "axis1"], ["seen"]),
        helper.make_node("MatMul", ["seen", "w_row"], ["row_logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("Softmax", ["row_logits"], ["row_probabilities"], axis=-1),
        helper.make_node("ReduceMax", ["ink", "axes12"], ["peak"], keepdims=0),
        helper.make_node("Greater", ["peak", "zero"], ["ink_found"]),
        helper.make_node("ReduceSum", ["plane", "axes12"], ["stroke_width"], keepdims=0),
        helper.make_node("ReduceMean", ["ink", "axes12"], ["ink_share"], keepdims=0),
    ]
    outputs = [
        _value("probabilities", ["batch", CLASSES]),
        _value("row_probabilities", ["batch", SIZE, CLASSES]),
        _value("image", ["batch", SIZE, SIZE]),
        _value("logits", ["batch", CLASSES]),
        _value("row_logits", ["batch", SIZE, CLASSES]),
        _value("stroke_width", ["batch"]),
        helper.make_tensor_value_info("ink_found", TensorProto.BOOL, ["batch"]),
        _value("ink_share", ["batch"]),
    ]
    graph = helper.make_graph(
        nodes,
        "standin",
        [_value("ink", ["batch", SIDE, SIDE])],
        outputs,
        [numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, {"model_card": json.dumps(CARD)})
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out)
    return out
