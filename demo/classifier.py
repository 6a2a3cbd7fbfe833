"""The demo's only model path: one onnxruntime session, the model card read from the file.

Export writes the facts both sides share (28x28, pixels / 255, white ink on black, class
names) into the .onnx as metadata "model_card"; this module reads them back, so the demo
never keeps a second copy. onnxruntime + numpy only: no torch, no onnx package.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from demo.width import stroke_widths, warm

DEFAULT_MODEL = Path(__file__).with_name("hrnn_mnist.onnx")
INT8_MODEL = Path(__file__).with_name("hrnn_mnist_int8.onnx")
CARD_KEY = "model_card"
CARD_FORMAT = "hrnn-mnist-card/1"
OUTPUT_NAMES = ("logits", "row_logits")
# Images per session.run. The LSTM computes its input projections for all 28 steps of all
# 28 rows at once, 1.6 MB per image: a batch of 256 took 650 MB and ran ~20% slower per
# image than the same digits fed 4 at a time (measured on the 2-core dev box: 1.5 ms of CPU
# per image at 1-4 images per run, 1.7 at 32, 2.1 at 256).
RUN_BATCH = 4


class ModelError(Exception):
    """A model file that is missing, corrupt or foreign, or input the model cannot take."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class ModelCard:
    """The model card export wrote into the .onnx; raw is the whole JSON object."""

    raw: dict

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        try:
            raw = json.loads(text)
        except (TypeError, ValueError) as error:
            raise ModelError(f"the model card is not valid JSON ({_first_line(error)})") from None
        if not isinstance(raw, dict) or raw.get("format") != CARD_FORMAT:
            found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise ModelError(f"the model card has format {found!r}, not {CARD_FORMAT!r}")
        card = cls(raw)
        try:  # touch every property once so a card with holes fails here, not mid-request
            ok = (
                card.image_size > 0
                and card.digit_box > 0
                and card.pixel_scale > 0
                and card.temperature > 0
                and card.wide_from > 0
                and card.wide_power >= 0
                and 0 <= card.sure_at < 1
                and len(card.class_names) > 0
                and card.precision
                and card.input_name
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"the model card lacks a usable field ({error!r})") from None
        if not ok:
            raise ModelError("the model card has an empty or non-positive field")
        return card

    @property
    def image_size(self) -> int:
        return int(self.raw["input"]["image_size"])

    @property
    def digit_box(self) -> int:
        return int(self.raw["input"]["digit_box"])

    @property
    def pixel_scale(self) -> float:
        return float(self.raw["input"]["pixel_scale"])

    @property
    def temperature(self) -> float:
        """Logits are divided by this before softmax: fitted on validation, 1.0 if never fitted."""
        return float(self.raw.get("calibration", {}).get("temperature", 1.0))

    @property
    def wide_from(self) -> float:
        """Strokes wider than this (pixels of the model's input) warm the temperature."""
        return float(self.raw.get("calibration", {}).get("wide_from", 1.0))

    @property
    def wide_power(self) -> float:
        """How fast: temperature * (width / wide_from) ** wide_power (0: width never matters)."""
        return float(self.raw.get("calibration", {}).get("wide_power", 0.0))

    def temperatures(self, batch: np.ndarray) -> np.ndarray:
        """(N,) float32 temperatures for (N, H, W) inputs scaled to 0..1 (demo.width.warm)."""
        if self.wide_power == 0:
            return np.full(len(batch), self.temperature, dtype=np.float32)
        widths = stroke_widths(batch)
        return warm(widths, self.temperature, self.wide_from, self.wide_power).astype(np.float32)

    @property
    def sure_at(self) -> float:
        """Calibrated top probabilities below this are shown as 'not sure' (0: always sure)."""
        return float(self.raw.get("calibration", {}).get("sure_at", 0.0))

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(str(name) for name in self.raw["class_names"])

    @property
    def precision(self) -> str:
        return str(self.raw["precision"])

    @property
    def input_name(self) -> str:
        return str(self.raw["input"]["name"])

    @property
    def approximate(self) -> bool:
        """The export measured this model's confidences drifting from float32's (int8)."""
        return bool(self.raw.get("approximate_confidence", False))


@dataclass(frozen=True)
class Prediction:
    """Everything one forward pass says; row_* are the beliefs after rows 1..k."""

    probabilities: np.ndarray  # (N, classes) float32, calibrated by the card's temperatures
    logits: np.ndarray  # (N, classes) float32
    row_probabilities: np.ndarray  # (N, rows, classes) float32
    row_logits: np.ndarray  # (N, rows, classes) float32


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in float64 (max subtracted first), returned as float32."""
    wide = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(wide - wide.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)


def _open_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the demo's console is for the user
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime's own exception types derive from Exception only
        raise ModelError(f"{path} is not a loadable ONNX model ({_first_line(error)})") from None


class Classifier:
    """One onnxruntime session, opened once and reused; InferenceSession.run is thread safe."""

    def __init__(self, model_path: str | Path = DEFAULT_MODEL, threads: int = 1) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"model file {self.model_path} does not exist")
        if threads < 1:
            raise ModelError(f"threads must be at least 1, not {threads}")
        self.session = _open_session(self.model_path, threads)
        metadata = self.session.get_modelmeta().custom_metadata_map
        if CARD_KEY not in metadata:
            raise ModelError(f"{self.model_path} is an ONNX model, but not an hrnn-mnist one")
        self.card = ModelCard.from_json(metadata[CARD_KEY])
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [self.card.input_name] or not set(OUTPUT_NAMES) <= set(outputs):
            raise ModelError(
                f"{self.model_path} has inputs {inputs} and outputs {outputs}, but its card "
                f"promises input {self.card.input_name!r} and outputs {list(OUTPUT_NAMES)}"
            )

    def _as_batch(self, images: np.ndarray) -> np.ndarray:
        size = self.card.image_size
        array = np.asarray(images)
        if array.dtype.kind not in "uif":  # unsigned, signed, float: bool/complex/object are bugs
            raise ModelError(f"images must hold real numbers, not {array.dtype}")
        if array.shape == (size, size):
            array = array[None]
        if array.ndim != 3 or array.shape[1:] != (size, size):
            raise ModelError(
                f"images must have shape ({size}, {size}) or (N, {size}, {size}), not {array.shape}"
            )
        batch = array.astype(np.float32) / np.float32(self.card.pixel_scale)
        if not np.isfinite(batch).all():
            raise ModelError("images contain NaN or infinite values")
        return np.ascontiguousarray(batch)

    def predict(self, images: np.ndarray) -> Prediction:
        """Class and per-row probabilities for MNIST-style pixels (0..255, white on black)."""
        batch = self._as_batch(images)
        if len(batch) == 0:
            classes = len(self.card.class_names)
            empty = np.zeros((0, classes), np.float32)
            rows = np.zeros((0, self.card.image_size, classes), np.float32)
            return Prediction(empty, empty, rows, rows)
        outputs = [
            self.session.run(list(OUTPUT_NAMES), {self.card.input_name: batch[i : i + RUN_BATCH]})
            for i in range(0, len(batch), RUN_BATCH)
        ]
        logits = np.concatenate([out[0] for out in outputs]).astype(np.float32, copy=False)
        row_logits = np.concatenate([out[1] for out in outputs]).astype(np.float32, copy=False)
        temperature = self.card.temperatures(batch)  # calibrated: 90% means right 9 in 10
        return Prediction(
            probabilities=softmax(logits / temperature[:, None]),
            logits=logits,
            row_probabilities=softmax(row_logits / temperature[:, None, None]),
            row_logits=row_logits,
        )
