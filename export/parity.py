"""PyTorch against the demo's own Classifier: the path users get, not a private ort call.

A model ships only when both runtimes agree on every test digit and on random input at
several batch sizes: same argmax, |dp| <= 1e-5, |dlogit| and |drow logit| (the heatmap) <= 1e-4.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from demo.classifier import OUTPUT_NAMES, Classifier, ModelCard, softmax
from train.data import DataError, load_split
from train.model import HRNN

MAX_PROB_DIFF = 1e-5
MAX_LOGIT_DIFF = 1e-4  # for the logits and for every row's logits (the page's heatmap)
ALLOWED = {"max_prob_diff": MAX_PROB_DIFF, "max_logit_diff": MAX_LOGIT_DIFF}
ALLOWED |= {"max_row_logit_diff": MAX_LOGIT_DIFF, "argmax_agreement": 1.0}
RANDOM_BATCHES = (1, 7, 64)
# Images per forward pass. The row LSTM sees 28 sequences per image; past ~64 images its
# gate buffers fall out of cache and both runtimes get 2x slower per image.
CHUNK = 16


@dataclass
class Comparison:
    """How far two runtimes are apart on one set of images."""

    name: str
    count: int
    max_prob_diff: float
    max_logit_diff: float
    max_row_logit_diff: float
    argmax_agreement: float
    accuracy_torch: float | None = None
    accuracy_onnx: float | None = None

    @property
    def passed(self) -> bool:
        return (
            self.max_prob_diff <= MAX_PROB_DIFF
            and self.max_logit_diff <= MAX_LOGIT_DIFF
            and self.max_row_logit_diff <= MAX_LOGIT_DIFF
            and self.argmax_agreement == 1.0
        )


@dataclass
class ParityReport:
    comparisons: list[Comparison] = field(default_factory=list)
    seconds: float = 0.0
    # The Classifier's probabilities on the first (labelled) set, reused by the int8 check.
    probabilities: np.ndarray | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return bool(self.comparisons) and all(c.passed for c in self.comparisons)

    def lines(self) -> list[str]:
        out = [
            f"  allowed: max|dp| {MAX_PROB_DIFF:.0e}, max|dlogit| and max|drow| (row logits) "
            f"{MAX_LOGIT_DIFF:.0e}, argmax agree 100%"
        ]
        for c in self.comparisons:
            acc = ""
            if c.accuracy_torch is not None:
                acc = f"  acc torch {c.accuracy_torch:.2%} onnx {c.accuracy_onnx:.2%}"
            out.append(
                f"  {'ok  ' if c.passed else 'FAIL'} {c.name:<32} n={c.count:<6} "
                f"max|dp| {c.max_prob_diff:.2e}  max|dlogit| {c.max_logit_diff:.2e}  "
                f"max|drow| {c.max_row_logit_diff:.2e}  argmax agree {c.argmax_agreement:.2%}" + acc
            )
        return out


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


def load_eval_set(
    data_dir: str | Path | None = None, sample: str | Path | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray, str]:
    """The digits parity runs on: `sample` when given, else the MNIST test set (train.data)."""
    if sample is not None:
        images, labels = load_sample(sample)
        return images, labels, f"{Path(sample).name} ({len(images)} digits)"
    try:
        images, labels = load_split("test", data_dir, download=download)
    except DataError as error:
        raise DataError(
            f"no MNIST test set for the parity check ({error}); "
            "pass --data-dir DIR with the MNIST files, or --sample PATH to an .npz"
        ) from None
    return images, labels, f"MNIST test set ({len(images)} digits)"


def torch_outputs(
    model: HRNN, images: np.ndarray, card: ModelCard
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (calibrated as the card says), logits and row logits from PyTorch."""
    probs, logits, rows = [], [], []
    with torch.inference_mode():
        for start in range(0, len(images), CHUNK):
            pixels = np.asarray(images[start : start + CHUNK], dtype=np.float32) / np.float32(255)
            out, row = model(torch.from_numpy(pixels), per_row=True)
            logits.append(out.numpy())
            rows.append(row.numpy())
            calibrated = out / torch.from_numpy(card.temperatures(pixels))[:, None]
            probs.append(torch.softmax(calibrated.double(), dim=-1).float().numpy())
    return np.concatenate(probs), np.concatenate(logits), np.concatenate(rows)


def onnx_outputs(
    classifier: Classifier, images: np.ndarray, workers: int = 1, whole: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Classifier's probabilities, logits and row logits; chunks spread over `workers`.

    whole=True instead feeds the whole batch to the session in one run, as the Classifier
    would with a larger RUN_BATCH: proof that the graph's batch axis really is dynamic.
    """
    if whole:
        pixels = np.asarray(images, np.float32) / np.float32(classifier.card.pixel_scale)
        feed = {classifier.card.input_name: pixels}
        logits, rows = classifier.session.run(list(OUTPUT_NAMES), feed)
        return softmax(logits / classifier.card.temperatures(pixels)[:, None]), logits, rows
    starts = range(0, len(images), CHUNK)
    with ThreadPoolExecutor(workers) as pool:  # one session, run() is thread safe
        predictions = list(pool.map(lambda s: classifier.predict(images[s : s + CHUNK]), starts))
    return tuple(
        np.concatenate([getattr(p, key) for p in predictions])
        for key in ("probabilities", "logits", "row_logits")
    )


def compare(
    name: str,
    model: HRNN,
    classifier: Classifier,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    whole: bool = False,
) -> tuple[Comparison, np.ndarray]:
    """Both runtimes on the same pixels, side by side (one core each); also the ONNX p."""
    with ThreadPoolExecutor(1) as pool:  # torch releases the GIL inside its kernels
        from_torch = pool.submit(torch_outputs, model, images, classifier.card)
        p_o, l_o, r_o = onnx_outputs(classifier, images, whole=whole)
        p_t, l_t, r_t = from_torch.result()
    agree = p_t.argmax(-1) == p_o.argmax(-1)
    result = Comparison(
        name=name,
        count=len(images),
        max_prob_diff=float(np.abs(p_t - p_o).max()),
        max_logit_diff=float(np.abs(l_t - l_o).max()),
        max_row_logit_diff=float(np.abs(r_t - r_o).max()),
        argmax_agreement=float(agree.mean()),
    )
    if labels is not None:
        result.accuracy_torch = float((p_t.argmax(-1) == labels).mean())
        result.accuracy_onnx = float((p_o.argmax(-1) == labels).mean())
    return result, p_o


def check_parity(
    model: HRNN,
    onnx_path: Path,
    images: np.ndarray,
    labels: np.ndarray,
    source: str,
    seed: int = 0,
) -> ParityReport:
    """Compare on the test digits, then on uniform-noise pixels at each of RANDOM_BATCHES.

    Each runtime gets one thread and they run at once: on a 2-core box that is faster
    than taking turns with 2 threads each (small LSTM steps scale poorly across threads).
    """
    start = time.perf_counter()
    classifier = Classifier(onnx_path, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first, probabilities = compare(source, model, classifier, images, labels)
        report = ParityReport([first], probabilities=probabilities)
        rng = np.random.default_rng(seed)
        size = classifier.card.image_size
        for batch in RANDOM_BATCHES:
            noise = rng.uniform(0, 255, size=(batch, size, size)).astype(np.float32)
            name = f"random pixels, batch {batch}"
            report.comparisons.append(compare(name, model, classifier, noise)[0])
            name = f"  same, one session.run of {batch}"
            report.comparisons.append(compare(name, model, classifier, noise, whole=True)[0])
    finally:
        torch.set_num_threads(threads)
    report.seconds = time.perf_counter() - start
    return report
