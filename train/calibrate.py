"""Make the shown confidence mean what it says, using validation data only.

A temperature divides the logits (it never changes which class wins); the cautious rule lets it
warm for strokes wider than familiar digits' (`warm`, which the reader graph applies).
`sure_at` is the lowest confidence at which answers were right at least SURE_ACCURACY of the
time on every validation set, so that below it the page says "not sure" and shows the runner-up.
"""

import math
from typing import NamedTuple

import numpy as np

SURE_ACCURACY = 0.995  # answers shown as sure are wrong at most 1 time in 200 on validation
ECE_BINS = 15
# The cautious rule (the shipped recipe's calibrate stage, train.validation): answers shown at
# >= CONFIDENT must be right at least CONFIDENT_ACCURACY of the time on every validation set,
# unfamiliar ones (fat pens, stretched scans) included, as long as the familiar sets' ECE stays
# within ECE_LIMIT.
CONFIDENT, CONFIDENT_ACCURACY, ECE_LIMIT = 0.90, 0.99, 0.03
# ... and for strokes wider than familiar digits reach WIDE_QUANTILE of the time, the
# temperature may rise with the width (`warm`) at one of these powers (0: never)
WIDE_QUANTILE = 0.95
WIDE_POWERS = tuple(float(p) for p in np.arange(0.0, 4.01, 0.25))


INK_AT = 0.5  # a pixel of the 28x28 scaled to 0..1 above this is ink when measuring width


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask in its pixels: twice the area over the outline length.

    Pixel-edge transitions overestimate an outline's length by 4/pi on average: divided out.
    """
    mask = np.pad(np.asarray(mask, dtype=bool), 1)
    edges = np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
    return 0.0 if edges == 0 else 2.0 * np.count_nonzero(mask) / (edges * math.pi / 4)


def stroke_widths(batch: np.ndarray) -> np.ndarray:
    """(N,) stroke widths of (N, H, W) model inputs scaled to 0..1, as the reader graph measures."""
    return np.array([stroke_width(image > INK_AT) for image in batch], dtype=np.float64)


def warm(widths: np.ndarray, temperature: float, wide_from: float, wide_power: float) -> np.ndarray:
    """(N,) temperatures: `temperature`, times (width / wide_from) ** wide_power for strokes
    wider than wide_from (export/reader.py bakes the same into the graph). Continuous in the
    width, so a slightly fatter stroke is never a cliff in the confidence shown."""
    excess = np.maximum(1.0, np.asarray(widths, dtype=np.float64) / wide_from)
    return temperature * excess**wide_power


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probs = softmax(logits, temperature)
    return float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature with the least validation cross-entropy (a fine 1-D grid: no optimiser)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(10.0), 801))
    losses = [nll(logits, labels, t) for t in grid]
    return float(grid[int(np.argmin(losses))])


def calibration_error(top: np.ndarray, right: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - mean confidence| per equal-width bin of the top
    probability, weighted by the bin's share (0 for no answers)."""
    if len(top) == 0:
        return 0.0
    index = np.minimum((top * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(index):
        inside = index == b
        total += inside.sum() * abs(right[inside].mean() - top[inside].mean())
    return float(total / len(top))


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """calibration_error of (N, classes) probabilities against labels."""
    return calibration_error(probs.max(axis=1), probs.argmax(axis=1) == labels, bins)


def sure_threshold(
    sets: list[tuple[np.ndarray, np.ndarray]], accuracy: float = SURE_ACCURACY
) -> float:
    """Lowest confidence c where, in every (probs, labels) set, answers at >= c reach `accuracy`."""
    candidates = np.round(np.arange(0.30, 0.991, 0.01), 2)
    for c in candidates:
        if all(confident_accuracy(probs, labels, c) >= accuracy for probs, labels in sets):
            return float(c)
    return float(candidates[-1])


def confident_accuracy(probs: np.ndarray, labels: np.ndarray, at: float = CONFIDENT) -> float:
    """How often answers shown at >= `at` are right (1.0 when none are shown)."""
    shown = probs.max(axis=1) >= at
    return float((probs[shown].argmax(axis=1) == labels[shown]).mean()) if shown.any() else 1.0


def wilson(right: int, shown: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson interval of a share (right of shown): how far a rate measured on a few
    hundred answers may be from the true one. 10 wrong of 852 is 98.83%, somewhere in 97.9-99.4%."""
    if not shown:
        return None
    share, spread = right / shown, z * z / shown
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / shown + spread / (4 * shown)) / (1 + spread)
    return centre - half, centre + half


def confident_lower_bound(probs: np.ndarray, labels: np.ndarray, at: float = CONFIDENT) -> float:
    """The low end of confident_accuracy's 95% interval (1.0 when none are shown): a rate
    measured on a thousand answers can clear 99% by luck alone, as the fat brush's 1,000
    validation drawings did (99.5%) where 5,000 said 98.7%."""
    shown = probs.max(axis=1) >= at
    right = int((probs[shown].argmax(axis=1) == labels[shown]).sum())
    bounds = wilson(right, int(shown.sum()))
    return 1.0 if bounds is None else bounds[0]


def _warmed(
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    widths: dict[str, np.ndarray],
    temperature: float,
    wide_from: float,
    wide_power: float,
) -> dict[str, np.ndarray]:
    """Each set's probabilities under `warm`'s per-digit temperatures."""
    return {
        name: softmax(lg, warm(widths[name], temperature, wide_from, wide_power)[:, None])
        for name, (lg, _) in sets.items()
    }


def cautious_calibration(
    familiar: dict[str, tuple[np.ndarray, np.ndarray]],
    unfamiliar: dict[str, tuple[np.ndarray, np.ndarray]],
    start: float,
    widths: dict[str, np.ndarray] | None = None,
) -> dict | None:
    """Temperature, and how fast it warms with stroke width, at which confident answers are
    right CONFIDENT_ACCURACY of the time on every set, with 95% confidence; None if the
    familiar sets' ECE would pass ECE_LIMIT first.

    For each power in WIDE_POWERS (only 0 without widths), the least temperature >= start that
    holds; of those, the one with the least cross-entropy over every set. Warming the softmax
    never changes an answer, only how many are shown as confident: a model that meets
    strangers' pens and scans should rather say "not sure" than be confidently wrong.
    """
    every = {**familiar, **unfamiliar}
    if widths is None:  # width-blind: one temperature for every digit
        widths, powers, wide_from = _no_widths(every), (0.0,), 1.0
    else:
        inked = np.concatenate([widths[name] for name in familiar])
        powers, wide_from = WIDE_POWERS, float(np.quantile(inked[inked > 0], WIDE_QUANTILE))
    best, best_loss = None, np.inf
    for power in powers:
        for temperature in np.round(np.arange(start, 5.0, 0.01), 2):
            probs = _warmed(every, widths, temperature, wide_from, power)
            if any(
                expected_calibration_error(probs[name], lb) > ECE_LIMIT
                for name, (_, lb) in familiar.items()
            ):
                break
            if all(
                confident_lower_bound(probs[name], lb) >= CONFIDENT_ACCURACY
                for name, (_, lb) in every.items()
            ):
                loss = _pooled_nll(probs, every)
                if loss < best_loss:
                    best_loss = loss
                    best = {
                        "temperature": float(temperature),
                        "wide_from": round(wide_from, 4),
                        "wide_power": float(power),
                    }
                break
    return best


def _no_widths(sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.zeros(len(labels)) for name, (_, labels) in sets.items()}


def _pooled_nll(
    probs: dict[str, np.ndarray], sets: dict[str, tuple[np.ndarray, np.ndarray]]
) -> float:
    """Cross-entropy over every digit of every set (unreadable ones, label -1, left out)."""
    losses = []
    for name, (_, labels) in sets.items():
        known = labels >= 0
        losses.append(-np.log(probs[name][known, labels[known]] + 1e-12))
    return float(np.concatenate(losses).mean())


def calibrate(
    named_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    unfamiliar: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    widths: dict[str, np.ndarray] | None = None,
) -> dict:
    """Temperature and threshold from validation logits, with what they did to each set.

    With `unfamiliar` sets the temperature is the cautious one when it exists (else the
    fitted one, and the report says so), warmed for wide strokes when every set's `widths`
    (stroke_widths of its inputs) are given, and `sure_at` must also keep sure
    answers right CONFIDENT_ACCURACY of the time on them.
    """
    logits = np.concatenate([lg for lg, _ in named_sets.values()])
    labels = np.concatenate([lb for _, lb in named_sets.values()])
    fitted = fit_temperature(logits, labels)
    cautious = cautious_calibration(named_sets, unfamiliar, fitted, widths) if unfamiliar else None
    every = {**named_sets, **(unfamiliar or {})}
    if cautious is None:
        calibration = {"temperature": fitted}
        probs = {name: softmax(lg, fitted) for name, (lg, _) in every.items()}
    else:
        calibration = cautious
        probs = _warmed(every, widths or _no_widths(every), **cautious)
    calibrated = {name: (probs[name], lb) for name, (_, lb) in every.items()}
    sure_at = sure_threshold([calibrated[name] for name in named_sets])
    if unfamiliar:  # strangers' digits: sure answers right as often as the confident ones
        strange = [calibrated[name] for name in unfamiliar]
        sure_at = max(sure_at, sure_threshold(strange, CONFIDENT_ACCURACY))
    report = {}
    for name, (lg, lb) in every.items():
        report[name] = {
            "n": len(lb),
            "ece_before": expected_calibration_error(softmax(lg), lb),
            "ece_after": expected_calibration_error(probs[name], lb),
            "not_sure_share": float((probs[name].max(axis=1) < sure_at).mean()),
            "confident_accuracy": confident_accuracy(probs[name], lb),
            "confident_lower_bound": confident_lower_bound(probs[name], lb),
        }
    result = {
        **calibration,
        "sure_at": sure_at,
        "rule": f"lowest confidence at which sure answers were right >= {SURE_ACCURACY:.1%} "
        "on every validation set"
        + (f" ({CONFIDENT_ACCURACY:.0%} on the unfamiliar ones)" if unfamiliar else ""),
        "validation": report,
    }
    if unfamiliar:
        result["fitted_temperature"] = fitted
        result["temperature_rule"] = (
            f"least temperature (for each power of the stroke width past the familiar digits' "
            f"{WIDE_QUANTILE:.0%} quantile) at which answers shown at >= {CONFIDENT:.0%} were "
            f"right >= {CONFIDENT_ACCURACY:.0%} on every validation set with 95% confidence, "
            f"familiar ECE <= {ECE_LIMIT}; of those, the least cross-entropy"
            if cautious is not None
            else f"least validation cross-entropy (the cautious rule would pass ECE {ECE_LIMIT})"
        )
    return result


class Readings(NamedTuple):
    """What a reader made of one validation set: raw logits (N, classes), the stroke width of
    each input (N,; 0 for no ink) and the true labels (N,; -1 for a picture it could not read).
    Training computes them with torch; an exported reader graph outputs the same per image."""

    logits: np.ndarray
    widths: np.ndarray
    labels: np.ndarray


def fit(familiar: dict[str, Readings], unfamiliar: dict[str, Readings] | None = None) -> dict:
    """calibrate() on readings: the cautious width-aware rule when unfamiliar sets are given
    (fat pens, stretched scans), the plain fitted temperature otherwise."""
    every = {**familiar, **(unfamiliar or {})}
    return calibrate(
        {name: (r.logits, r.labels) for name, r in familiar.items()},
        {name: (r.logits, r.labels) for name, r in unfamiliar.items()} if unfamiliar else None,
        {name: np.asarray(r.widths, dtype=np.float64) for name, r in every.items()},
    )
