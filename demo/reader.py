"""The demo's only model path: one onnxruntime session on the reader graph, its card from the file.

The graph (export/reader.py) takes an ink plane, 0 paper to 1 ink, of any size, and returns
calibrated probabilities, the belief after every row and the 28x28 it read: cropping, fitting,
evening strokes, centring and the width-warmed softmax all happen inside it. A drawing's plane
comes straight from the canvas; a photo's from demo.photo. onnxruntime + numpy only.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

DEFAULT_MODEL = Path(__file__).with_name("hrnn_mnist.onnx")
INT8_MODEL = Path(__file__).with_name("hrnn_mnist_int8.onnx")
CARD_KEY = "model_card"
CARD_FORMAT = "hrnn-mnist-card/2"
OUTPUT_NAMES = (
    "probabilities",
    "row_probabilities",
    "image",
    "logits",
    "row_logits",
    "stroke_width",
    "ink_found",
    "ink_share",
)
# Planes per session.run: the LSTMs' input projections take 1.6 MB an image, the crop-and-fit
# 3 MB more; small runs keep both in cache.
RUN_BATCH = 4
MAX_SIDE = 4096  # demo.photo hands over at most 1024 px a side, the canvas 280
MAX_COVERAGE = 0.9  # ink over this share of the plane leaves no paper to read a digit on
MOSTLY_INK = "The image is mostly ink; draw one digit on a plain background."
DECIMALS = 6  # probabilities in records: enough to compare across paths, short enough to read
TOUCHING = "These digits touch: leave a little space between them and draw again."
Box = tuple[int, int, int, int]  # (x, y, w, h) of a digit's ink in the input's pixels


class ModelError(Exception):
    """A model file that is missing, corrupt or foreign, or input the model cannot take."""


class PreprocessError(ValueError):
    """An input that cannot be read as a digit; the message is one sentence for the user."""


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
        """The `image` output is 0..pixel_scale; the model read it divided by this."""
        return float(self.raw["input"]["pixel_scale"])

    @property
    def temperature(self) -> float:
        """Logits were divided by this (warmed for wide strokes) inside the graph."""
        return float(self.raw["calibration"]["temperature"])

    @property
    def wide_from(self) -> float:
        """Strokes wider than this (pixels of the 28x28) warmed the temperature."""
        return float(self.raw["calibration"]["wide_from"])

    @property
    def wide_power(self) -> float:
        """How fast: temperature * (width / wide_from) ** wide_power (0: width never matters)."""
        return float(self.raw["calibration"]["wide_power"])

    @property
    def sure_at(self) -> float:
        """Calibrated top probabilities below this are shown as 'not sure' (0: always sure)."""
        return float(self.raw["calibration"]["sure_at"])

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
class Reading:
    """What the model says about one ink plane, with calibrated probabilities."""

    class_names: tuple[str, ...]
    probabilities: np.ndarray  # (classes,) float32, calibrated inside the graph
    pixels: np.ndarray  # (28, 28) float32 0..255, white on black: what the model saw
    rows: np.ndarray  # (28, classes) float32: belief after reading rows 1..k
    sure_at: float  # the card's threshold: below it the answer is a guess between two
    precision: str  # "float32" or "int8"
    approximate: bool = False  # the card says its confidences drift from float32's (int8)

    @property
    def ranked(self) -> list[int]:
        return [int(k) for k in np.argsort(-self.probabilities, kind="stable")]

    @property
    def label(self) -> str:
        return self.class_names[self.ranked[0]]

    @property
    def runner_up(self) -> str:
        return self.class_names[self.ranked[1]]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.ranked[0]])

    @property
    def sure(self) -> bool:
        return self.confidence >= self.sure_at

    @property
    def settled_row(self) -> int:
        """First row (1-based) from which the running top class stays the final answer."""
        wrong = np.flatnonzero(np.argmax(self.rows, axis=1) != self.ranked[0])
        return int(wrong[-1]) + 2 if wrong.size else 1

    def record(self) -> dict:
        """The CLI's JSON answer: label, confidence, sure, probabilities by class name."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, DECIMALS),
            "sure": self.sure,
            "probabilities": {
                name: round(float(p), DECIMALS)
                for name, p in zip(self.class_names, self.probabilities, strict=True)
            },
        }


@dataclass(frozen=True)
class NumberReading:
    """A number read digit by digit: the text, each digit's reading and box, or the boxes of
    digits that touch (then nothing is read: the answer asks for space instead)."""

    digits: list[tuple[Reading, Box]] = field(default_factory=list)
    touching: list[Box] = field(default_factory=list)

    @classmethod
    def of(cls, readings: list[Reading | None], boxes: list[Box]) -> "NumberReading":
        """Each digit plane's reading beside its box; planes with nothing to read are left out."""
        if len(readings) != len(boxes):
            raise ValueError(f"{len(readings)} readings for {len(boxes)} digits")
        pairs = zip(readings, boxes, strict=True)
        return cls(digits=[(reading, box) for reading, box in pairs if reading is not None])

    @property
    def text(self) -> str:
        return "" if self.touching else "".join(r.label for r, _ in self.digits)

    @property
    def sure(self) -> bool:
        return not self.touching and all(r.sure for r, _ in self.digits)

    @property
    def confidence(self) -> float:
        """Chance every digit is right: the calibrated confidences multiplied."""
        return float(np.prod([r.confidence for r, _ in self.digits])) if self.digits else 0.0

    def record(self) -> dict | None:
        """The JSON answer (docs/numbers.md): one digit -> the single-digit record as it
        always was; several -> {"number", "confidence", "sure", "digits"}; digits that
        touch -> {"error", "touching"}; nothing to read -> None."""
        if self.touching:
            return {"error": TOUCHING, "touching": [list(box) for box in self.touching]}
        if not self.digits:
            return None
        if len(self.digits) == 1:
            return self.digits[0][0].record()
        digits = [
            {
                "label": r.label,
                "confidence": round(float(r.confidence), DECIMALS),
                "sure": bool(r.sure),
                "runner_up": r.runner_up,
                "box": list(box),
            }
            for r, box in self.digits
        ]
        return {
            "number": self.text,
            "confidence": round(self.confidence, DECIMALS),
            "sure": self.sure,
            "digits": digits,
        }


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


class Reader:
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
                f"{self.model_path} has inputs {inputs} and outputs {outputs}, but a reader "
                f"takes {self.card.input_name!r} and gives {list(OUTPUT_NAMES)}"
            )

    def run(self, ink: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the graph for (H, W) or (N, H, W) ink planes, 0 paper to 1 ink."""
        batch = _as_batch(ink)
        if len(batch) == 0:
            empty = _as_batch(np.zeros((1, 1, 1), np.float32))
            return {k: v[:0] for k, v in self.run(empty).items()}
        outputs = [
            self.session.run(list(OUTPUT_NAMES), {self.card.input_name: batch[i : i + RUN_BATCH]})
            for i in range(0, len(batch), RUN_BATCH)
        ]
        return {
            name: np.concatenate([out[k] for out in outputs]) for k, name in enumerate(OUTPUT_NAMES)
        }

    def read_each(self, planes: list[np.ndarray]) -> list[Reading | None]:
        """One Reading (or None) per ink plane; the planes may differ in size (a number's
        digits, each cut to its own box)."""
        return [self.read(plane) for plane in planes]

    def read(self, ink: np.ndarray) -> Reading | None:
        """One ink plane -> a Reading, or None when there is nothing to read (blank, a dot).

        Raises PreprocessError for a plane that is mostly ink, ModelError for one the graph
        cannot take (wrong shape or type, NaN).
        """
        plane = _as_batch(ink)
        if len(plane) != 1:
            raise ModelError(f"read takes one ink plane, not {len(plane)}")
        out = self.run(plane)
        if out["ink_share"][0] > MAX_COVERAGE:
            raise PreprocessError(MOSTLY_INK)
        if not out["ink_found"][0]:
            return None
        card = self.card
        return Reading(
            class_names=card.class_names,
            probabilities=out["probabilities"][0],
            pixels=out["image"][0],
            rows=out["row_probabilities"][0],
            sure_at=card.sure_at,
            precision=card.precision,
            approximate=card.approximate,
        )


def _as_batch(ink: object) -> np.ndarray:
    """(H, W) or (N, H, W) real numbers -> contiguous float32 (N, H, W); ModelError otherwise."""
    array = np.asarray(ink)
    if array.dtype.kind not in "uif":  # unsigned, signed, float: bool/complex/object are bugs
        raise ModelError(f"ink must hold real numbers, not {array.dtype}")
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape[1:], default=0) < 1 or max(array.shape[1:]) > MAX_SIDE:
        raise ModelError(
            f"ink must have shape (H, W) or (N, H, W) with sides 1..{MAX_SIDE}, not {array.shape}"
        )
    batch = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(batch).all():
        raise ModelError("ink contains NaN or infinite values")
    return batch
