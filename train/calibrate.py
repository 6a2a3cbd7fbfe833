"""Make the shown confidence mean what it says, using validation data only.

One temperature divides the logits (it never changes which class wins); `sure_at` is the
lowest confidence at which answers were right at least SURE_ACCURACY of the time on every
validation set, so that below it the page says "not sure" and shows the runner-up.
"""

import numpy as np

SURE_ACCURACY = 0.995  # answers shown as sure are wrong at most 1 time in 200 on validation
ECE_BINS = 15
# The cautious rule (tools/recalibrate.py): answers shown at >= CONFIDENT must be right at least
# CONFIDENT_ACCURACY of the time on every validation set, unfamiliar ones (fat pens, stretched
# scans) included, as long as the familiar sets' ECE stays within ECE_LIMIT.
CONFIDENT, CONFIDENT_ACCURACY, ECE_LIMIT = 0.90, 0.99, 0.03


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


def cautious_temperature(
    familiar: dict[str, tuple[np.ndarray, np.ndarray]],
    unfamiliar: dict[str, tuple[np.ndarray, np.ndarray]],
    start: float,
) -> float | None:
    """The least temperature >= start at which confident answers are right CONFIDENT_ACCURACY
    of the time on every set; None if the familiar sets' ECE would pass ECE_LIMIT first.

    Warming the softmax never changes an answer, only how many are shown as confident: a model
    that meets strangers' pens and scans should rather say "not sure" than be confidently wrong.
    """
    every = {**familiar, **unfamiliar}
    for temperature in np.round(np.arange(start, 5.0, 0.01), 2):
        probs = {name: softmax(lg, temperature) for name, (lg, _) in every.items()}
        if any(
            expected_calibration_error(probs[name], lb) > ECE_LIMIT
            for name, (_, lb) in familiar.items()
        ):
            return None
        if all(
            confident_accuracy(probs[name], lb) >= CONFIDENT_ACCURACY
            for name, (_, lb) in every.items()
        ):
            return float(temperature)
    return None


def calibrate(
    named_sets: dict[str, tuple[np.ndarray, np.ndarray]],
    unfamiliar: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict:
    """Temperature and threshold from validation logits, with what they did to each set.

    With `unfamiliar` sets the temperature is the cautious one when it exists (else the
    fitted one, and the report says so), and `sure_at` must also keep sure answers right
    CONFIDENT_ACCURACY of the time on them.
    """
    logits = np.concatenate([lg for lg, _ in named_sets.values()])
    labels = np.concatenate([lb for _, lb in named_sets.values()])
    fitted = temperature = fit_temperature(logits, labels)
    cautious = cautious_temperature(named_sets, unfamiliar, fitted) if unfamiliar else None
    temperature = cautious if cautious is not None else fitted
    every = {**named_sets, **(unfamiliar or {})}
    calibrated = {name: (softmax(lg, temperature), lb) for name, (lg, lb) in every.items()}
    sure_at = sure_threshold([calibrated[name] for name in named_sets])
    if unfamiliar:  # strangers' digits: sure answers right as often as the confident ones
        strange = [calibrated[name] for name in unfamiliar]
        sure_at = max(sure_at, sure_threshold(strange, CONFIDENT_ACCURACY))
    report = {}
    for name, (lg, lb) in every.items():
        probs = calibrated[name][0]
        report[name] = {
            "n": len(lb),
            "ece_before": expected_calibration_error(softmax(lg), lb),
            "ece_after": expected_calibration_error(probs, lb),
            "not_sure_share": float((probs.max(axis=1) < sure_at).mean()),
            "confident_accuracy": confident_accuracy(probs, lb),
        }
    result = {
        "temperature": temperature,
        "sure_at": sure_at,
        "rule": f"lowest confidence at which sure answers were right >= {SURE_ACCURACY:.1%} "
        "on every validation set"
        + (f" ({CONFIDENT_ACCURACY:.0%} on the unfamiliar ones)" if unfamiliar else ""),
        "validation": report,
    }
    if unfamiliar:
        result["fitted_temperature"] = fitted
        result["temperature_rule"] = (
            f"least temperature at which answers shown at >= {CONFIDENT:.0%} were right >= "
            f"{CONFIDENT_ACCURACY:.0%} on every validation set, familiar ECE <= {ECE_LIMIT}"
            if cautious is not None
            else f"least validation cross-entropy (the cautious rule would pass ECE {ECE_LIMIT})"
        )
    return result
