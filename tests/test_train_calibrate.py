"""Calibration: a temperature that undoes over- or under-confidence, an ECE that measures it,
and a 'sure' threshold chosen from validation answers alone."""

import numpy as np
import pytest

from train.calibrate import (
    calibrate,
    expected_calibration_error,
    fit_temperature,
    softmax,
    sure_threshold,
)


def sampled(temperature: float, n: int = 20_000, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / temperature): that T is the truth."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, 10))
    probs = softmax(logits, temperature)
    labels = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, 9)
    return logits, labels


@pytest.mark.parametrize("truth", [0.5, 1.0, 2.0])
def test_the_fitted_temperature_recovers_the_one_the_labels_came_from(truth):
    logits, labels = sampled(truth)
    assert fit_temperature(logits, labels) == pytest.approx(truth, rel=0.08)


def test_ece_is_small_when_calibrated_and_large_when_overconfident():
    logits, labels = sampled(2.0)
    calibrated = expected_calibration_error(softmax(logits, 2.0), labels)
    overconfident = expected_calibration_error(softmax(logits, 1.0), labels)
    assert calibrated < 0.02 < 0.1 < overconfident


def test_sure_threshold_is_the_lowest_confidence_that_is_right_often_enough_on_every_set():
    # 100 answers at 0.95 confidence, 3 wrong (97% right); 100 at 0.6, 20 wrong.
    probs = np.zeros((200, 10))
    probs[:100, 0], probs[:100, 1] = 0.95, 0.05
    probs[100:, 0], probs[100:, 1] = 0.6, 0.4
    labels = np.zeros(200, dtype=int)
    labels[:3] = 1
    labels[100:120] = 1
    assert sure_threshold([(probs, labels)], accuracy=0.9) == pytest.approx(0.61)
    assert sure_threshold([(probs, labels)], accuracy=0.5) == pytest.approx(0.30)
    clean = (probs[:100], np.zeros(100, dtype=int))
    assert sure_threshold([clean, (probs, labels)], accuracy=0.9) == pytest.approx(0.61)


def test_calibrate_reports_each_validation_set_before_and_after():
    logits, labels = sampled(2.0, n=4_000)
    result = calibrate({"a": (logits[:2000], labels[:2000]), "b": (logits[2000:], labels[2000:])})
    assert result["temperature"] == pytest.approx(2.0, rel=0.15)
    assert 0 <= result["sure_at"] < 1
    for name in ("a", "b"):
        report = result["validation"][name]
        assert report["n"] == 2000 and report["ece_after"] < report["ece_before"]
