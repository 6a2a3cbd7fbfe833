"""Read one digit: the only place that chains preprocessing, the model and the answer.

The page, the API and `python -m demo.predict` all call `read`, so they cannot disagree about
what an image says, how sure the model is, or when it admits it is not sure.
"""

from dataclasses import dataclass

import numpy as np

from demo.classifier import Classifier
from demo.preprocess import to_mnist

DECIMALS = 6  # probabilities in records: enough to compare across paths, short enough to read
ROW_DECIMALS = 4  # per-row beliefs only colour a heatmap


@dataclass(frozen=True)
class Reading:
    """What the model says about one image, with calibrated probabilities."""

    class_names: tuple[str, ...]
    probabilities: np.ndarray  # (classes,) float32, calibrated by the card's temperature
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


def read(classifier: Classifier, image: object) -> Reading | None:
    """Anything to_mnist takes -> a Reading, or None when there is no digit to read.

    Raises PreprocessError (unreadable input) or ModelError (input the model cannot take).
    """
    card = classifier.card
    pixels = to_mnist(image, card.image_size, card.digit_box)
    if pixels is None:
        return None
    prediction = classifier.predict(pixels)
    return Reading(
        class_names=card.class_names,
        probabilities=prediction.probabilities[0],
        pixels=pixels,
        rows=prediction.row_probabilities[0],
        sure_at=card.sure_at,
        precision=card.precision,
        approximate=card.approximate,
    )
