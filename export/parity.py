"""The reader file users get against references written in plain numpy and torch.

Two comparisons on every set (MNIST digits as ink, MNIST digits drawn on a 280 px canvas, pen
strokes rendered as drawings, and planes with nothing to read):

- graph: the torch Reader module (export/reader.py) against the .onnx through demo.reader:
  the export itself, same ops on both sides;
- reference: export/reference.py's numpy normalisation, the torch HRNN and a numpy softmax
  warmed as the card says, against the .onnx: an independent statement of the same reading.

A file ships only when, on each set, both agree with it on whether there is ink to read and
on the top class of at least MIN_AGREEMENT of the digits, and its probabilities are within the
stated bounds of theirs.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from demo.reader import Reader
from export import reference
from export.reader import Reader as ReaderModule
from train.data import DataError
from train.model import HRNN
from train.render import RenderConfig, render

MIN_AGREEMENT = 0.999  # share of digits with the same top class
MAX_GRAPH_PROB_DIFF = 1e-3  # torch module vs onnxruntime: same ops, float rounding only
# numpy vs the graph: a pixel's rounding can move a crop edge or an evening step, so a rare
# digit's image differs by a few grey levels; its probabilities stay within this
MAX_REFERENCE_PROB_DIFF = 0.05
ALLOWED = {
    "top_class_agreement": MIN_AGREEMENT,
    "ink_found_agreement": 1.0,
    "max_prob_diff_graph": MAX_GRAPH_PROB_DIFF,
    "max_prob_diff_reference": MAX_REFERENCE_PROB_DIFF,
}
PARITY_DIGITS = 2000  # MNIST digits compared (the reference is numpy, one digit at a time)
DRAWINGS = 400  # canvas drawings and pen renders compared
CANVAS = 280  # the page's canvas side
CHUNK = 16


@dataclass
class Comparison:
    """How far the file is from one reference on one set of planes."""

    name: str
    against: str
    count: int
    top_class_agreement: float
    ink_found_agreement: float
    max_prob_diff: float
    max_image_diff: float
    allowed_prob_diff: float
    accuracy_reference: float | None = None
    accuracy_onnx: float | None = None

    @property
    def passed(self) -> bool:
        return (
            self.top_class_agreement >= MIN_AGREEMENT
            and self.ink_found_agreement == 1.0
            and self.max_prob_diff <= self.allowed_prob_diff
        )


@dataclass
class ParityReport:
    comparisons: list[Comparison] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.comparisons) and all(c.passed for c in self.comparisons)

    def lines(self) -> list[str]:
        out = [
            f"  allowed: top class agree >= {MIN_AGREEMENT:.1%}, ink_found agree 100%, max|dp| "
            f"{MAX_GRAPH_PROB_DIFF:.0e} (torch module) / {MAX_REFERENCE_PROB_DIFF} (numpy)"
        ]
        for c in self.comparisons:
            acc = ""
            if c.accuracy_reference is not None:
                acc = f"  acc ref {c.accuracy_reference:.2%} onnx {c.accuracy_onnx:.2%}"
            out.append(
                f"  {'ok  ' if c.passed else 'FAIL'} {c.name:<40} vs {c.against:<9} n={c.count:<5} "
                f"top agree {c.top_class_agreement:.2%}  found agree {c.ink_found_agreement:.2%}  "
                f"max|dp| {c.max_prob_diff:.2e}  max|dimage| {c.max_image_diff:.2f}" + acc
            )
        return out + [f"  note: {note}" for note in self.notes]


def load_sample(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An .npz holding images (N, 28, 28) of pixels 0..255 and labels (N,) of digits 0..9."""
    try:
        with np.load(path) as sample:
            images, labels = sample["images"], sample["labels"].astype(np.int64)
    except (OSError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path} is not an .npz with images and labels ({reason})") from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(
            f"{path} holds images {images.shape} and labels {labels.shape}; "
            "expected (N, 28, 28) and (N,)"
        )
    return images, labels


def drawn(digits: np.ndarray, seed: int = 0) -> np.ndarray:
    """28x28 digits drawn large on the page's canvas: (N, 280, 280) ink, soft edges."""
    rng = np.random.default_rng(seed)
    planes = np.zeros((len(digits), CANVAS, CANVAS), np.float32)
    for plane, digit in zip(planes, digits, strict=True):
        side = int(rng.integers(150, 260))
        big = Image.fromarray(np.asarray(digit, np.float32) / 255.0).resize(
            (side, side), Image.Resampling.BILINEAR
        )
        top, left = rng.integers(0, CANVAS - side + 1, size=2)
        plane[top : top + side, left : left + side] = np.clip(np.asarray(big), 0.0, 1.0)
    return planes


def pen_renders(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """pendigits writers' strokes rendered as 280 px drawings; None without the pendigits file."""
    from train import pendigits

    try:
        digits = pendigits.read_pendigits(pendigits.find_file())[:count]
    except (DataError, OSError):
        return None
    points, ids, labels = pendigits.pack(digits)
    config = RenderConfig(image_size=CANVAS, digit_box=200.0, width_range=(8.0, 40.0))
    generator = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        ink = [
            render(
                torch.from_numpy(points[s : s + CHUNK]),
                torch.from_numpy(ids[s : s + CHUNK]),
                generator,
                config,
            )
            for s in range(0, len(points), CHUNK)
        ]
    return torch.cat(ink).numpy().astype(np.float32), np.asarray(labels, np.int64)


def nothing_to_read() -> np.ndarray:
    """Blank planes, faint smudges and a dot: each must come back ink_found false."""
    planes = np.zeros((4, CANVAS, CANVAS), np.float32)
    planes[1] = 0.3  # faint all over: nothing over the core
    planes[2, 100:104, 140:144] = 1.0  # a dot
    planes[3, 10:20, 10:200] = 0.45  # a faint bar
    return planes


def reference_outputs(model: HRNN, planes: np.ndarray, card: dict) -> dict[str, np.ndarray]:
    """export/reference.py's images, the torch HRNN and a numpy warmed softmax."""
    fitted = card["calibration"]
    images = [reference.normalise(plane) for plane in planes]
    found = np.array([image is not None for image in images])
    batch = np.stack([np.zeros((28, 28), np.float32) if i is None else i for i in images])
    with torch.inference_mode():
        logits = np.concatenate(
            [
                model(torch.from_numpy(batch[s : s + CHUNK] / 255.0)).numpy()
                for s in range(0, len(batch), CHUNK)
            ]
        )
    widths = [reference.stroke_width(image / 255.0 > reference.INK_AT) for image in batch]
    warmth = np.array(
        [
            reference.warm(w, fitted["temperature"], fitted["wide_from"], fitted["wide_power"])
            for w in widths
        ]
    )
    scaled = logits.astype(np.float64) / warmth[:, None]
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    probabilities = exp / exp.sum(axis=1, keepdims=True) * found[:, None]
    return {"probabilities": probabilities, "image": batch, "ink_found": found}


def module_outputs(model: HRNN, planes: np.ndarray, card: dict) -> dict[str, np.ndarray]:
    """The torch Reader module the graph was exported from."""
    fitted = card["calibration"]
    module = ReaderModule(model, fitted["temperature"], fitted["wide_from"], fitted["wide_power"])
    outs = []
    with torch.inference_mode():
        for start in range(0, len(planes), CHUNK):
            out = module(torch.from_numpy(np.ascontiguousarray(planes[start : start + CHUNK])))
            outs.append({"probabilities": out[0], "image": out[2], "ink_found": out[6]})
    return {key: np.concatenate([o[key].numpy() for o in outs]) for key in outs[0]}


def compare(
    name: str, against: str, theirs: dict, ours: dict, labels: np.ndarray | None, allowed: float
) -> Comparison:
    both = theirs["ink_found"] & ours["ink_found"]
    agree = theirs["probabilities"].argmax(-1) == ours["probabilities"].argmax(-1)
    result = Comparison(
        name=name,
        against=against,
        count=len(both),
        top_class_agreement=float(agree[both].mean()) if both.any() else 1.0,
        ink_found_agreement=float((theirs["ink_found"] == ours["ink_found"]).mean()),
        max_prob_diff=float(np.abs(theirs["probabilities"] - ours["probabilities"]).max()),
        max_image_diff=float(np.abs(theirs["image"] - ours["image"]).max()),
        allowed_prob_diff=allowed,
    )
    if labels is not None:
        result.accuracy_reference = float((theirs["probabilities"].argmax(-1) == labels).mean())
        result.accuracy_onnx = float((ours["probabilities"].argmax(-1) == labels).mean())
    return result


def parity_sets(
    images: np.ndarray, labels: np.ndarray, source: str, notes: list
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(name, planes, labels or None) for every set parity compares on."""
    count = min(len(images), PARITY_DIGITS)
    sets = [
        (
            f"{source}: {count} as ink = pixels / 255",
            images[:count] / np.float32(255),
            labels[:count],
        )
    ]
    few = min(len(images), DRAWINGS)
    sets.append((f"{few} of them drawn on a {CANVAS} px canvas", drawn(images[:few]), labels[:few]))
    pens = pen_renders(DRAWINGS)
    if pens is None:
        notes.append("pen renders left out: no pendigits file")
    else:
        sets.append((f"{len(pens[1])} pen digits rendered at {CANVAS} px", *pens))
    sets.append(("blank, faint and a dot", nothing_to_read(), None))
    return sets


def check_parity(
    model: HRNN, onnx_path: Path, images: np.ndarray, labels: np.ndarray, source: str
) -> ParityReport:
    """Every set through the file, the torch module and the numpy reference."""
    start = time.perf_counter()
    reader = Reader(onnx_path, threads=1)
    card = reader.card.raw
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    report = ParityReport()
    try:
        for name, planes, truth in parity_sets(images, labels, source, report.notes):
            planes = np.ascontiguousarray(planes, dtype=np.float32)
            ours = reader.run(planes)
            report.comparisons.append(
                compare(
                    name,
                    "torch",
                    module_outputs(model, planes, card),
                    ours,
                    truth,
                    MAX_GRAPH_PROB_DIFF,
                )
            )
            report.comparisons.append(
                compare(
                    name,
                    "numpy",
                    reference_outputs(model, planes, card),
                    ours,
                    truth,
                    MAX_REFERENCE_PROB_DIFF,
                )
            )
    finally:
        torch.set_num_threads(threads)
    report.seconds = time.perf_counter() - start
    return report
