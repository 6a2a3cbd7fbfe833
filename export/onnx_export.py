"""Checkpoint -> one self-contained .onnx with a dynamic batch and the model card inside.

The card carries every fact the demo needs (28x28, pixels / 255, white ink on black,
class names) plus where the weights came from, so the .onnx is the only thing shipped.
"""

import io
import json
import logging
import warnings
from pathlib import Path

import onnx
import onnxscript
import onnxscript.optimizer
import torch
from torch import nn

from demo.classifier import CARD_FORMAT, CARD_KEY, OUTPUT_NAMES
from train.checkpoint import CheckpointError, load_weights, sha256_file
from train.model import HRNN, HRNNConfig

INPUT_NAME = "image"
DIGIT_BOX = 20  # MNIST centred each digit's 20x20 bounding box inside the 28x28 frame
PIXEL_SCALE = 255.0
EXAMPLE_BATCH = 3  # > 1, so no exporter can mistake the batch for a constant 1
# The exporter's optimizer leaves the LSTM weight re-ordering (PyTorch's gate order -> ONNX's)
# as Slice/Concat on 64k-element tensors; folding them gives the LSTMs plain initializers,
# which both the runtime and the int8 quantizer need.
FOLD_LIMIT = 1 << 22


class ExportError(Exception):
    """An export that cannot go ahead: bad input, or a graph that is not what the demo needs."""


class _WithRows(nn.Module):
    """The demo shows the belief after every row, so the graph returns both outputs."""

    def __init__(self, model: HRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(image, per_row=True)


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
    precision: str = "float32",
) -> dict:
    """The JSON model card (schema in the project contract) for one exported file."""
    size = model.config.image_size
    classes = model.config.num_classes
    return {
        "name": "hrnn-mnist",
        "format": CARD_FORMAT,
        "precision": precision,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", size, size],
            "dtype": "float32",
            "image_size": size,
            "digit_box": DIGIT_BOX,
            "pixel_scale": PIXEL_SCALE,
            "ink": "white-on-black",
        },
        "outputs": {"logits": ["batch", classes], "row_logits": ["batch", size, classes]},
        "class_names": [str(i) for i in range(classes)],
        "training": training if training is not None else {"note": "no weights card found"},
        "weights_sha256": weights_sha256,
        "exporter": exporter,
    }


def _export_dynamo(wrapped: nn.Module, example: torch.Tensor, opset: int | None) -> onnx.ModelProto:
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        wrapped,
        (example,),
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        opset_version=opset,
        dynamic_shapes={"image": {0: batch}},
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


def _declare_output_shapes(proto: onnx.ModelProto, config: HRNNConfig) -> None:
    """The TorchScript exporter names the row axis symbolically; it is always image_size."""
    dims = {"logits": [config.num_classes], "row_logits": [config.image_size, config.num_classes]}
    for value in proto.graph.output:
        shape = value.type.tensor_type.shape
        for dim, size in zip(shape.dim[1:], dims[value.name], strict=True):
            dim.dim_value = size


def _export_torchscript(
    wrapped: nn.Module, example: torch.Tensor, opset: int | None
) -> onnx.ModelProto:
    axes = {INPUT_NAME: {0: "batch"}} | {name: {0: "batch"} for name in OUTPUT_NAMES}
    buffer = io.BytesIO()
    torch.onnx.export(
        wrapped,
        (example,),
        buffer,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        opset_version=opset or 17,
        dynamic_axes=axes,
        dynamo=False,
    )
    return onnx.load_from_string(buffer.getvalue())


def export_proto(
    model: HRNN, opset: int | None = None, dynamo: bool = True
) -> tuple[onnx.ModelProto, dict]:
    """The ONNX graph and a description of the exporter that made it.

    The dynamo exporter is the one torch recommends; the TorchScript one is only a fallback.
    """
    wrapped = _WithRows(model).eval()
    size = model.config.image_size
    example = torch.rand(EXAMPLE_BATCH, size, size, generator=torch.Generator().manual_seed(0))
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    fallback_reason = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation chatter is not for users
        proto = None
        if dynamo:
            try:
                proto = _export_dynamo(wrapped, example, opset)
            except Exception as error:  # noqa: BLE001 - any failure here means: use the fallback
                fallback_reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        if proto is None:
            try:
                proto = _export_torchscript(wrapped, example, opset)
            except Exception as error:  # noqa: BLE001 - both exporters failed: say so, briefly
                first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
                raise ExportError(
                    f"both exporters failed (dynamo: {fallback_reason}; "
                    f"TorchScript: {type(error).__name__}: {first})"
                ) from None
            _declare_output_shapes(proto, model.config)
    drop_unused_outputs(proto)
    used_opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    exporter = {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxscript": onnxscript.__version__,
        "opset": used_opset,
        "method": "torch.onnx.export(dynamo=True)"
        if fallback_reason is None and dynamo
        else "torch.onnx.export(dynamo=False) (TorchScript fallback)",
    }
    if fallback_reason is not None:
        exporter["fallback_reason"] = fallback_reason
    return proto, exporter


def set_card(proto: onnx.ModelProto, card: dict) -> None:
    """Store the card as metadata_props["model_card"], replacing any earlier one."""
    kept = [p for p in proto.metadata_props if p.key != CARD_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=CARD_KEY, value=json.dumps(card, sort_keys=True))


def read_card(proto: onnx.ModelProto) -> dict:
    for prop in proto.metadata_props:
        if prop.key == CARD_KEY:
            return json.loads(prop.value)
    raise ExportError("the ONNX model has no model card")


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def check_proto(proto: onnx.ModelProto, config: HRNNConfig) -> None:
    """What the demo relies on, checked before anything is written: any miss is an ExportError."""
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise ExportError(f"the exported model fails onnx.checker ({error})") from None
    size, classes = config.image_size, config.num_classes
    wanted = {
        INPUT_NAME: ["batch", size, size],
        "logits": ["batch", classes],
        "row_logits": ["batch", size, classes],
    }
    found = {v.name: _dims(v) for v in [*proto.graph.input, *proto.graph.output]}
    for name, dims in wanted.items():
        # A string first dim is symbolic: the batch axis is dynamic, not baked in.
        if name not in found or not isinstance(found[name][0], str) or found[name][1:] != dims[1:]:
            raise ExportError(f"{name} has dims {found.get(name)}, expected {dims}")
    lstms = sum(node.op_type == "LSTM" for node in proto.graph.node)
    if lstms != 2:
        raise ExportError(f"expected both encoders as ONNX LSTM ops, found {lstms} LSTM nodes")


def write_model(proto: onnx.ModelProto, path: Path) -> None:
    """All tensors inline: one file, nothing beside it; readable by all like any shipped file."""
    Path(path).write_bytes(proto.SerializeToString())
    Path(path).chmod(0o644)  # the temp file it lands in starts private (0600)
