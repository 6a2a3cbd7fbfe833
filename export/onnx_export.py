"""Checkpoint -> one self-contained reader .onnx (export/reader.py) with the model card inside.

The graph takes an ink plane of any size and returns calibrated probabilities; the card
carries every fact a caller needs (the input's meaning, the outputs, class names, the
calibration baked into the graph) plus where the weights came from, so the .onnx is the only
thing shipped.
"""

import json
import logging
import warnings
from pathlib import Path

import onnx
import onnxscript
import onnxscript.optimizer
import torch
from torch import nn

from demo.reader import CARD_FORMAT, CARD_KEY, OUTPUT_NAMES
from export import reference
from export.reader import Reader
from train.checkpoint import CheckpointError, load_weights, sha256_file
from train.model import HRNN, HRNNConfig

INPUT_NAME = "ink"
AXES = ("batch", "height", "width")
PIXEL_SCALE = 255.0  # the `image` output is 0..255; the model reads it divided by this
OPSET = 18  # GridSample, AveragePool and ReduceMax with axes as inputs: onnxruntime and -web
EXAMPLE_SHAPE = (3, 40, 50)  # > 1 and unequal, so no exporter can take an axis for a constant
UNCALIBRATED = {"temperature": 1.0, "wide_from": 1.0, "wide_power": 0.0, "sure_at": 0.0}
BLANK = (
    "ink_found is false where the plane holds no ink over 0.5, or only a dot: there "
    "probabilities and row_probabilities are all zero and image is blank (nothing to read)"
)
# The exporter's optimizer leaves the LSTM weight re-ordering (PyTorch's gate order -> ONNX's)
# as Slice/Concat on 64k-element tensors; folding them gives the LSTMs plain initializers,
# which both the runtime and the int8 quantizer need.
FOLD_LIMIT = 1 << 22
# Weights-card fields the demo reads at the top of the model card, copied verbatim when present:
# calibration {"temperature", "sure_at", ...} and training_data [{name, licence, samples}, ...].
COPIED_FROM_TRAINING = ("calibration", "training_data")


class ExportError(Exception):
    """An export that cannot go ahead: bad input, or a graph that is not what the demo needs."""


def card_path_for(weights: Path) -> Path:
    """Training writes the weights card beside the weights: hrnn_mnist.pt -> hrnn_mnist.json."""
    return Path(weights).with_suffix(".json")


def load_model_and_card(weights: Path) -> tuple[HRNN, dict | None]:
    """The model in eval mode and its training card (None when absent), checked together."""
    weights = Path(weights)
    card_path = card_path_for(weights)
    training = None
    expected = None
    if card_path.is_file():
        try:
            training = json.loads(card_path.read_text())
            expected = HRNNConfig.from_dict(training["model_config"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ExportError(f"weights card {card_path} is unreadable ({error})") from None
    try:
        model = load_weights(weights, expected)
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    recorded = (training or {}).get("weights_sha256")
    if recorded and recorded != sha256_file(weights):
        raise ExportError(
            f"weights card {card_path} describes other weights (sha256 {recorded[:12]}...) "
            f"than {weights}; retrain or restore the matching pair"
        )
    return model, training


def build_card(
    model: HRNN,
    training: dict | None,
    weights_sha256: str,
    exporter: dict,
) -> dict:
    """The JSON model card for one exported file; the whole weights card rides along as training."""
    size = model.config.image_size
    classes = model.config.num_classes
    copied = {key: training[key] for key in COPIED_FROM_TRAINING if key in (training or {})}
    copied["calibration"] = calibration(training)
    return copied | {
        "name": "hrnn-mnist",
        "format": CARD_FORMAT,
        "precision": "float32",
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", "height", "width"],
            "dtype": "float32",
            "ink": "0 = paper, 1 = ink (a canvas: alpha / 255), any height and width",
            "image_size": size,
            "digit_box": reference.DIGIT_BOX,
            "pixel_scale": PIXEL_SCALE,
        },
        "outputs": output_shapes(model.config),
        "meaning": {
            "probabilities": "softmax(logits / T), T = temperature * max(1, stroke_width / "
            "wide_from) ** wide_power (the card's calibration)",
            "row_probabilities": "the same, for the belief after reading rows 1..k",
            "image": "the 28x28 the model read, 0..255 white ink on black (divided by "
            "pixel_scale for the model)",
            "stroke_width": "mean stroke width of image / 255 > 0.5, in its pixels",
            "ink_found": BLANK,
            "ink_share": "the share of the plane that is ink (its mean, 0..1): over 0.9 there is "
            "no paper left to read a digit on",
        },
        "normalisation": reference.NORMALISATION,
        "class_names": [str(i) for i in range(classes)],
        "training": training if training is not None else {"note": "no weights card found"},
        "weights_sha256": weights_sha256,
        "exporter": exporter,
    }


def calibration(training: dict | None) -> dict:
    """The weights card's calibration (what the graph bakes in); identity when never fitted."""
    fitted = (training or {}).get("calibration", {})
    return fitted | {key: fitted.get(key, value) for key, value in UNCALIBRATED.items()}


def _export_dynamo(wrapped: nn.Module, example: torch.Tensor, opset: int | None) -> onnx.ModelProto:
    dims = {axis: torch.export.Dim(name, min=1) for axis, name in enumerate(AXES)}
    program = torch.onnx.export(
        wrapped,
        (example,),
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        opset_version=opset or OPSET,
        dynamic_shapes={INPUT_NAME: dims},
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    onnxscript.optimizer.optimize(
        program.model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT
    )
    return program.model_proto


def drop_unused_outputs(proto: onnx.ModelProto) -> None:
    """Name no output that nothing reads, so the runtime does not compute it.

    The row LSTM's full sequence output Y (every pixel's state, 28x the size of what is
    used) is exported although only its last state feeds the column LSTM.
    """
    used = {name for node in proto.graph.node for name in node.input}
    used |= {value.name for value in proto.graph.output}
    for node in proto.graph.node:
        if node.op_type == "LSTM":
            names = [name if name in used else "" for name in node.output]
            while names and not names[-1]:
                names.pop()
            del node.output[:]
            node.output.extend(names)


def strip_machine_details(proto: onnx.ModelProto) -> None:
    """Drop doc strings and metadata other than the card, in place.

    The dynamo exporter records each node's stack trace (this checkout's and the
    interpreter's absolute paths); without them the same weights give the same bytes.
    """

    def strip_graph(graph: onnx.GraphProto) -> None:
        graph.doc_string = ""
        del graph.metadata_props[:]
        for value in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]:
            value.doc_string = ""
            del value.metadata_props[:]
        for node in graph.node:
            node.doc_string = ""
            del node.metadata_props[:]
            for attribute in node.attribute:  # touching .g on others would create one
                if attribute.type == onnx.AttributeProto.GRAPH:
                    strip_graph(attribute.g)
                for sub in attribute.graphs:
                    strip_graph(sub)

    strip_graph(proto.graph)
    for function in proto.functions:
        function.doc_string = ""
        del function.metadata_props[:]
        for node in function.node:
            node.doc_string = ""
            del node.metadata_props[:]
    proto.doc_string = ""
    kept = [p for p in proto.metadata_props if p.key == CARD_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)


def reader_for(model: HRNN, card: dict) -> Reader:
    """The reader module with the calibration the card states."""
    fitted = card["calibration"]
    return Reader(
        model, float(fitted["temperature"]), float(fitted["wide_from"]), float(fitted["wide_power"])
    ).eval()


def export_proto(model: HRNN, card: dict, opset: int | None = None) -> tuple[onnx.ModelProto, dict]:
    """The reader's ONNX graph from torch's dynamo exporter, and a description of that exporter."""
    wrapped = reader_for(model, card)
    example = torch.rand(*EXAMPLE_SHAPE, generator=torch.Generator().manual_seed(0))
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not for users
        try:
            proto = _export_dynamo(wrapped, example, opset)
        except Exception as error:  # noqa: BLE001 - any exporter failure: one sentence
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            reason = f"{type(error).__name__}: {first}"
            raise ExportError(f"the ONNX exporter failed ({reason})") from None
    drop_unused_outputs(proto)
    strip_machine_details(proto)
    used_opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    exporter = {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "opset": used_opset,
        "method": "torch.onnx.export(dynamo=True)",
    }
    return proto, exporter


def set_card(proto: onnx.ModelProto, card: dict) -> None:
    """Store the card as metadata_props["model_card"], replacing any earlier one."""
    kept = [p for p in proto.metadata_props if p.key != CARD_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=CARD_KEY, value=json.dumps(card, sort_keys=True))


def add_to_card(path: Path, fields: dict) -> None:
    """Merge measured facts (int8's confidence drift) into the card of a written model."""
    proto = onnx.load(str(path))
    set_card(proto, read_card(proto) | fields)
    write_model(proto, path)


def read_card(proto: onnx.ModelProto) -> dict:
    for prop in proto.metadata_props:
        if prop.key == CARD_KEY:
            return json.loads(prop.value)
    raise ExportError("the ONNX model has no model card")


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def output_shapes(config: HRNNConfig) -> dict[str, list[int | str]]:
    """Each output's shape, "batch" the dynamic axis: what the card promises and the graph has."""
    size, classes = config.image_size, config.num_classes
    shapes = {"probabilities": ["batch", classes], "row_probabilities": ["batch", size, classes]}
    shapes |= {"image": ["batch", size, size], "logits": ["batch", classes]}
    shapes |= {"row_logits": ["batch", size, classes]}
    return shapes | {name: ["batch"] for name in ("stroke_width", "ink_found", "ink_share")}


def check_proto(proto: onnx.ModelProto, config: HRNNConfig) -> None:
    """What the demo relies on, checked before anything is written: any miss is an ExportError."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"the exported model fails onnx.checker ({error})") from None
    wanted = {INPUT_NAME: ["batch", "height", "width"], **output_shapes(config)}
    found = {v.name: _dims(v) for v in [*proto.graph.input, *proto.graph.output]}
    if list(found) != list(wanted):
        raise ExportError(f"the graph has inputs and outputs {list(found)}, not {list(wanted)}")
    for name, dims in wanted.items():
        # A string dim is symbolic: that axis is dynamic, not baked in.
        symbolic = [isinstance(d, str) for d in found[name]] == [isinstance(d, str) for d in dims]
        fixed = [d for d in found[name] if not isinstance(d, str)]
        if not symbolic or fixed != [d for d in dims if not isinstance(d, str)]:
            raise ExportError(f"{name} has dims {found.get(name)}, expected {dims}")
    lstms = sum(node.op_type == "LSTM" for node in proto.graph.node)
    if lstms != 2:
        raise ExportError(f"expected both encoders as ONNX LSTM ops, found {lstms} LSTM nodes")


def write_model(proto: onnx.ModelProto, path: Path) -> None:
    """All tensors inline: one file, nothing beside it; readable by all like any shipped file."""
    Path(path).write_bytes(proto.SerializeToString())
    Path(path).chmod(0o644)  # the temp file it lands in starts private (0600)
