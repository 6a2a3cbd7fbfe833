"""Calibration: a temperature that undoes over- or under-confidence, an ECE that measures it,
and a 'sure' threshold chosen from validation answers alone."""

import numpy as np
import pytest

from train.calibrate import (
    CONFIDENT_ACCURACY,
    ECE_LIMIT,
    calibrate,
    cautious_calibration,
    confident_accuracy,
    confident_lower_bound,
    expected_calibration_error,
    fit_temperature,
    softmax,
    sure_threshold,
    wilson,
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


def test_a_confident_accuracy_comes_with_its_95_percent_interval():
    low, high = wilson(842, 852)  # the fat brush's 10 confident misses on test
    assert low == pytest.approx(0.9785, abs=1e-4) and high == pytest.approx(0.9936, abs=1e-4)
    assert wilson(100, 100)[1] == pytest.approx(1.0) and wilson(100, 100)[0] < 0.97
    assert wilson(0, 0) is None


def test_the_lower_bound_needs_more_answers_to_clear_99pc_than_the_rate_does():
    def answers(n: int, wrong: int):
        probs = np.zeros((n, 10))
        probs[:, 0] = 0.95
        labels = np.zeros(n, dtype=int)
        labels[:wrong] = 1
        return probs, labels

    few, many = answers(1000, 5), answers(5000, 25)  # both 99.5% right
    assert confident_accuracy(*few) == confident_accuracy(*many) == 0.995
    assert confident_lower_bound(*few) < CONFIDENT_ACCURACY < confident_lower_bound(*many)
    probs, labels = answers(1000, 5)
    probs[:, 0] = 0.5  # none shown at >= 90%: nothing to be wrong about
    assert confident_lower_bound(probs, labels) == 1.0


def holds(probs: np.ndarray, labels: np.ndarray) -> bool:
    return confident_lower_bound(probs, labels) >= CONFIDENT_ACCURACY


def test_the_cautious_temperature_is_the_least_that_makes_confident_answers_right_99pc():
    familiar = {"mnist": familiar_set()}
    unfamiliar = {"fat": unfamiliar_set()}
    assert not holds(softmax(unfamiliar["fat"][0], 1.0), unfamiliar["fat"][1])
    found = cautious_calibration(familiar, unfamiliar, start=1.0)
    assert found is not None and found["temperature"] > 1.0 and found["wide_power"] == 0
    for temperature, expected in (
        (found["temperature"], True),
        (found["temperature"] - 0.01, False),
    ):
        assert holds(softmax(unfamiliar["fat"][0], temperature), unfamiliar["fat"][1]) is expected


def test_the_cautious_temperature_gives_way_when_familiar_digits_would_lose_calibration():
    familiar = {"mnist": familiar_set()}
    # wrong answers exactly as sure as right ones: only a temperature that wrecks MNIST's ECE
    # would push them all below 90%
    hopeless = unfamiliar_set(wrong=100, wrong_margin=(4.0, 9.0))
    assert cautious_calibration(familiar, {"fat": hopeless}, start=1.0) is None
    result = calibrate(familiar, {"fat": hopeless})
    assert result["temperature"] == result["fitted_temperature"]
    assert "cross-entropy" in result["temperature_rule"]


def fat_and_thin(seed: int = 2):
    """Familiar digits drawn 2-3 px wide; strangers' fat-pen digits, whose wrong answers are as
    sure as their right ones, drawn 5-8 px wide beside thin ones the model reads well."""
    rng = np.random.default_rng(seed)
    familiar = {"mnist": familiar_set()}
    fat = unfamiliar_set(wrong=40, wrong_margin=(4.0, 9.0), seed=seed)
    thin = unfamiliar_set(wrong=0, seed=seed + 1)
    strangers = tuple(np.concatenate(pair) for pair in zip(fat, thin, strict=True))
    widths = {
        "mnist": rng.uniform(2.0, 3.0, len(familiar["mnist"][1])),
        "strangers": np.concatenate([rng.uniform(5.0, 8.0, 1000), rng.uniform(2.0, 3.0, 1000)]),
    }
    return familiar, {"strangers": strangers}, widths


def test_where_no_one_temperature_will_do_warming_wide_strokes_does():
    familiar, unfamiliar, widths = fat_and_thin()
    blind = calibrate(familiar, unfamiliar)  # would have to wreck the familiar digits' ECE
    assert blind["temperature"] == blind["fitted_temperature"] and "wide_power" not in blind
    assert blind["validation"]["strangers"]["confident_lower_bound"] < CONFIDENT_ACCURACY
    aware = calibrate(familiar, unfamiliar, widths)
    assert aware["wide_power"] > 0
    assert aware["wide_from"] == pytest.approx(np.quantile(widths["mnist"], 0.95), abs=1e-4)
    for name in ("mnist", "strangers"):
        assert aware["validation"][name]["confident_lower_bound"] >= CONFIDENT_ACCURACY
    assert aware["validation"]["mnist"]["ece_after"] <= ECE_LIMIT
