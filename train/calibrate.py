"""Make the shown confidence mean what it says, using validation data only.

One temperature divides the logits (it never changes which class wins); `sure_at` is the
lowest confidence at which answers were right at least SURE_ACCURACY of the time on every
validation set, so that below it the page says "not sure" and shows the runner-up.
"""

import numpy as np

SURE_ACCURACY = 0.995  # answers shown as sure are wrong at most 1 time in 200 on validation
ECE_BINS = 15


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


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by bin size."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    right = predicted == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def sure_threshold(
    sets: list[tuple[np.ndarray, np.ndarray]], accuracy: float = SURE_ACCURACY
) -> float:
    """Lowest confidence c where, in every (probs, labels) set, answers at >= c reach `accuracy`."""
    candidates = np.round(np.arange(0.30, 0.991, 0.01), 2)
    for c in candidates:
        ok = True
        for probs, labels in sets:
            shown = probs.max(axis=1) >= c
            if shown.any() and (probs[shown].argmax(axis=1) == labels[shown]).mean() < accuracy:
                ok = False
                break
        if ok:
            return float(c)
    return float(candidates[-1])


def calibrate(named_sets: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Temperature and threshold from validation logits, with what they did to each set."""
    logits = np.concatenate([lg for lg, _ in named_sets.values()])
    labels = np.concatenate([lb for _, lb in named_sets.values()])
    temperature = fit_temperature(logits, labels)
    calibrated = {name: (softmax(lg, temperature), lb) for name, (lg, lb) in named_sets.items()}
    sure_at = sure_threshold(list(calibrated.values()))
    report = {}
    for name, (lg, lb) in named_sets.items():
        probs = calibrated[name][0]
        report[name] = {
            "n": len(lb),
            "ece_before": expected_calibration_error(softmax(lg), lb),
            "ece_after": expected_calibration_error(probs, lb),
            "not_sure_share": float((probs.max(axis=1) < sure_at).mean()),
        }
    return {
        "temperature": temperature,
        "sure_at": sure_at,
        "rule": f"lowest confidence at which sure answers were right >= {SURE_ACCURACY:.1%} "
        "on every validation set",
        "validation": report,
    }
