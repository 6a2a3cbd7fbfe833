"""Calibration: a temperature that undoes over- or under-confidence, an ECE that measures it,
and a 'sure' threshold chosen from validation answers alone."""

import numpy as np
import pytest

from train.calibrate import (
    CONFIDENT_ACCURACY,
    calibrate,
    cautious_temperature,
    confident_accuracy,
    expected_calibration_error,
    fit_temperature,
    softmax,
    sure_threshold,
)


def sampled(temperature: float, n: int = 20_000, seed: int = 0, spread: float = 4.0):
    """Logits whose labels are drawn from softmax(logits / temperature): that T is the truth."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, spread, size=(n, 10))
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


def familiar_set():
    """A set the model knows: 94% right and calibrated as it stands (temperature 1)."""
    return sampled(1.0, spread=16.0)


def unfamiliar_set(n: int = 1000, wrong: int = 30, wrong_margin=(3.0, 5.0), seed: int = 1):
    """Answers the model is sure of, 3% of them wrong, the wrong ones a little less sure."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(0, 0.3, size=(n, 10))
    margin = rng.uniform(4.0, 9.0, n)
    margin[:wrong] = rng.uniform(*wrong_margin, wrong)
    answers = labels.copy()
    answers[:wrong] = (labels[:wrong] + 1) % 10
    logits[np.arange(n), answers] += margin
    return logits, labels


def test_the_cautious_temperature_is_the_least_that_makes_confident_answers_right_99pc():
    familiar = {"mnist": familiar_set()}
    unfamiliar = {"fat": unfamiliar_set()}
    assert confident_accuracy(softmax(*unfamiliar["fat"][:1], 1.0), unfamiliar["fat"][1]) < 0.99
    warm = cautious_temperature(familiar, unfamiliar, start=1.0)
    assert warm is not None and warm > 1.0
    for temperature, holds in ((warm, True), (warm - 0.01, False)):
        probs = softmax(unfamiliar["fat"][0], temperature)
        assert (confident_accuracy(probs, unfamiliar["fat"][1]) >= CONFIDENT_ACCURACY) is holds


def test_the_cautious_temperature_gives_way_when_familiar_digits_would_lose_calibration():
    familiar = {"mnist": familiar_set()}
    # wrong answers exactly as sure as right ones: only a temperature that wrecks MNIST's ECE
    # would push them all below 90%
    hopeless = unfamiliar_set(wrong=100, wrong_margin=(4.0, 9.0))
    assert cautious_temperature(familiar, {"fat": hopeless}, start=1.0) is None
    result = calibrate(familiar, {"fat": hopeless})
    assert result["temperature"] == result["fitted_temperature"]
    assert "cross-entropy" in result["temperature_rule"]


def test_calibrating_with_unfamiliar_sets_reports_them_and_keeps_sure_at_on_every_set():
    familiar = {"mnist": familiar_set()}
    result = calibrate(familiar, {"fat": unfamiliar_set()})
    assert result["temperature"] > result["fitted_temperature"]
    assert set(result["validation"]) == {"mnist", "fat"}
    assert result["validation"]["fat"]["confident_accuracy"] >= CONFIDENT_ACCURACY
    for (logits, labels), accuracy in ((familiar["mnist"], 0.995), (unfamiliar_set(), 0.99)):
        probs = softmax(logits, result["temperature"])
        shown = probs.max(axis=1) >= result["sure_at"]
        assert (probs[shown].argmax(axis=1) == labels[shown]).mean() >= accuracy


def test_sure_at_rises_until_strangers_sure_answers_are_right_99pc():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 5000)
    clean = rng.normal(0, 0.3, size=(5000, 10))
    clean[np.arange(5000), labels] += 12.0  # a familiar set the model never gets wrong
    strangers = unfamiliar_set(wrong=60, wrong_margin=(0.5, 1.5))  # wrong ones are unsure
    result = calibrate({"mnist": (clean, labels)}, {"fat": strangers})
    assert sure_threshold([(softmax(clean, result["temperature"]), labels)]) < result["sure_at"]
    probs = softmax(strangers[0], result["temperature"])
    shown = probs.max(axis=1) >= result["sure_at"]
    assert (probs[shown].argmax(axis=1) == strangers[1][shown]).mean() >= CONFIDENT_ACCURACY
