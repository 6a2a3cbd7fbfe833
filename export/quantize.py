"""The int8 variant: onnxruntime dynamic quantization of both LSTMs.

Dynamic quantization stores the LSTM weights as int8 and quantizes activations on the
fly, so it needs no calibration data. It ships only if, against the float model it came
from, it loses at most MAX_ACCURACY_DROP of accuracy on the MNIST validation digits
(validation_digits: never the test split) and 99% of digits' probabilities move by at most
MAX_P99_PROB_DIFF; the rarer, larger moves are written into its card.
"""

import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

from demo.reader import Reader
from export.onnx_export import read_card, set_card, strip_machine_details, write_model
from export.parity import load_sample
from train.data import DataError, load_split, validation_split

MAX_ACCURACY_DROP = 0.001  # 0.1 percentage points
# Per digit, |dp| is the largest change of any class probability: 99 digits in 100 of a few
# thousand move by well under 0.01, one in 10,000 by over 0.1; 0.02 bounds the 99th percentile
# with room for that spread.
MAX_P99_PROB_DIFF = 0.02
# Above this, the card says int8 confidences are approximate: a page showing whole
# percentages would show a different number for some digit.
EXACT_PROB_DIFF = 0.005
LIMITS = {"accuracy_drop": MAX_ACCURACY_DROP, "p99_prob_diff": MAX_P99_PROB_DIFF}
LIMITS |= {"approximate_confidence_above": EXACT_PROB_DIFF}
VALIDATION_SIZE = 5000  # the MNIST training digits that recipes with validation hold out
# The head is 1,290 of ~200k weights; quantizing it saves nothing and adds a quantize step.
OP_TYPES = ["LSTM"]
CHUNK = 64  # planes per worker task


class QuantizeError(Exception):
    """Quantization produced a graph that is not the int8 model we promise."""


@dataclass
class Int8Report:
    size_bytes: int
    float_size_bytes: int
    accuracy_float: float
    accuracy_int8: float
    argmax_agreement: float
    max_prob_diff: float
    p99_prob_diff: float
    count: int
    source: str

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_float - self.accuracy_int8

    @property
    def qualifies(self) -> bool:
        return (
            self.accuracy_drop <= MAX_ACCURACY_DROP + 1e-12
            and self.p99_prob_diff <= MAX_P99_PROB_DIFF
        )

    def why_not(self) -> str:
        """The failed gates, for the one line that says int8 was not written."""
        reasons = []
        if self.accuracy_drop > MAX_ACCURACY_DROP + 1e-12:
            reasons.append(f"loses {self.accuracy_drop * 100:.2f} pp of accuracy")
        if self.p99_prob_diff > MAX_P99_PROB_DIFF:
            reasons.append(f"moves p99 probabilities by {self.p99_prob_diff:.3f}")
        return " and ".join(reasons)

    def card_fields(self) -> dict:
        """What the page needs to know about int8 confidences, measured, not assumed."""
        return {
            "approximate_confidence": self.max_prob_diff > EXACT_PROB_DIFF,
            "confidence_drift": {
                "vs": "float32 reader, both through demo.reader.Reader",
                "max_abs_prob_diff": round(self.max_prob_diff, 4),
                "p99_abs_prob_diff": round(self.p99_prob_diff, 4),
                "argmax_agreement": self.argmax_agreement,
                "digits": self.count,
                "on": self.source,
            },
        }

    def line(self) -> str:
        return (
            f"  int8 {self.size_bytes / 1e6:.2f} MB (float {self.float_size_bytes / 1e6:.2f} MB), "
            f"acc {self.accuracy_int8:.2%} vs float {self.accuracy_float:.2%} "
            f"(drop {self.accuracy_drop * 100:+.2f} pp, allowed {MAX_ACCURACY_DROP * 100:.1f}), "
            f"argmax agree {self.argmax_agreement:.2%}, on {self.source}\n"
            f"  int8 |dp| per digit: p99 {self.p99_prob_diff:.4f} (allowed {MAX_P99_PROB_DIFF}), "
            f"max {self.max_prob_diff:.4f} (card: approximate_confidence "
            f"{str(self.max_prob_diff > EXACT_PROB_DIFF).lower()})"
        )


def probabilities_of(reader: Reader, ink: np.ndarray, workers: int = 2) -> np.ndarray:
    """The reader's probabilities for (N, H, W) planes, chunks spread over `workers` threads."""
    starts = range(0, len(ink), CHUNK)
    with ThreadPoolExecutor(workers) as pool:  # one session, run() is thread safe
        runs = pool.map(lambda s: reader.run(ink[s : s + CHUNK])["probabilities"], starts)
        return np.concatenate(list(runs))


def validation_digits(
    data_dir: str | Path | None = None, sample: str | Path | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray, str]:
    """The digits parity and the int8 gate run on: `sample` when given, else the MNIST
    validation split (train.data.validation_split of the training files). Never the test
    split: a gate decides what ships, and the test split decides nothing."""
    if sample is not None:
        images, labels = load_sample(sample)
        return images, labels, f"{Path(sample).name} ({len(images)} digits)"
    try:
        images, labels = load_split("train", data_dir, download=download)
    except DataError as error:
        raise DataError(
            f"no MNIST training files for the validation digits ({error}); "
            "pass --data-dir DIR with the MNIST files, or --sample PATH to an .npz"
        ) from None
    index, _ = validation_split(len(images), VALIDATION_SIZE)
    return images[index], labels[index], f"MNIST validation split ({len(index)} digits)"


def quantize_file(float_path: Path, int8_path: Path) -> None:
    """Pre-process (shape inference + constant folding), then quantize; card says int8.

    Without the pre-processing pass quantize_dynamic can leave LSTMs in float when their
    weights are computed rather than stored; afterwards both must be DynamicQuantizeLSTM.
    """
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice at WARNING
    with tempfile.TemporaryDirectory(dir=Path(int8_path).parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(
            prepared, int8_path, op_types_to_quantize=OP_TYPES, weight_type=QuantType.QInt8
        )
    proto = onnx.load(str(int8_path))
    kinds = [node.op_type for node in proto.graph.node]
    if kinds.count("DynamicQuantizeLSTM") != 2 or "LSTM" in kinds:
        raise QuantizeError(f"expected 2 DynamicQuantizeLSTM nodes and no float LSTM, got {kinds}")
    card = read_card(onnx.load(str(float_path), load_external_data=False))
    card["precision"] = "int8"
    card["exporter"] = card["exporter"] | {
        "quantizer": f"onnxruntime.quantization.quantize_dynamic {onnxruntime.__version__}",
        "quantized_ops": OP_TYPES,
        "weight_type": "QInt8",
    }
    strip_machine_details(proto)
    set_card(proto, card)
    onnx.checker.check_model(proto, full_check=True)
    write_model(proto, int8_path)


def evaluate_int8(
    float_path: Path,
    int8_path: Path,
    images: np.ndarray,
    labels: np.ndarray,
    source: str,
    float_probabilities: np.ndarray | None = None,
    workers: int = 2,
) -> Int8Report:
    """Both readers through demo.reader.Reader, on the same digits (ink = pixels / 255).

    float_probabilities, when given, are the float reader's on these digits (saves a run).
    """
    ink = np.asarray(images, np.float32) / np.float32(255)
    if float_probabilities is None:
        float_probabilities = probabilities_of(Reader(float_path), ink, workers)
    int8_probabilities = probabilities_of(Reader(int8_path), ink, workers)
    float_top, int8_top = float_probabilities.argmax(-1), int8_probabilities.argmax(-1)
    drift = np.abs(float_probabilities - int8_probabilities).max(-1)  # one number per digit
    return Int8Report(
        size_bytes=Path(int8_path).stat().st_size,
        float_size_bytes=Path(float_path).stat().st_size,
        accuracy_float=float((float_top == labels).mean()),
        accuracy_int8=float((int8_top == labels).mean()),
        argmax_agreement=float((float_top == int8_top).mean()),
        max_prob_diff=float(drift.max()),
        p99_prob_diff=float(np.percentile(drift, 99)),
        count=len(images),
        source=source,
    )
