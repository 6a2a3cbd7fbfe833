"""The headline guarantee: the shipped .onnx, run by the demo's own Classifier, is the
shipped PyTorch model: the same digit every time, |dp| <= 1e-5, |dlogit| and |drow| <= 1e-4."""

import json

import numpy as np
import pytest
import torch

from bench.paths import SAMPLE, WEIGHTS, mnist_dir
from demo.classifier import DEFAULT_MODEL, INT8_MODEL, Classifier
from export.parity import (
    MAX_LOGIT_DIFF,
    MAX_PROB_DIFF,
    RANDOM_BATCHES,
    check_parity,
    compare,
    load_eval_set,
)
from export.quantize import EXACT_PROB_DIFF, MAX_P99_PROB_DIFF, evaluate_int8
from train.checkpoint import load_weights, sha256_file


@pytest.fixture(scope="module")
def model():
    assert WEIGHTS.is_file(), f"{WEIGHTS} is not in the repo; the parity guarantee needs it"
    torch.set_num_threads(1)  # compare() runs torch and onnxruntime side by side, 1 core each
    return load_weights(WEIGHTS)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLE) as data:
        return data["images"], data["labels"].astype(np.int64)


def test_shipped_onnx_was_exported_from_the_shipped_weights():
    card = Classifier(DEFAULT_MODEL).card.raw
    assert card["weights_sha256"] == sha256_file(WEIGHTS), (
        "demo/hrnn_mnist.onnx is stale: rerun `python -m export --quantize`"
    )
    weights_card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    for copied in ("calibration", "training_data"):  # what the page reads, from training
        assert card.get(copied) == weights_card.get(copied), copied


def test_shipped_onnx_matches_pytorch_on_the_sample(model, sample):
    images, labels = sample
    result, _ = compare("sample", model, Classifier(DEFAULT_MODEL), images, labels)
    assert result.count == 1000
    assert result.max_prob_diff <= MAX_PROB_DIFF
    assert result.argmax_agreement == 1.0
    assert result.accuracy_onnx == result.accuracy_torch
    assert result.max_logit_diff <= MAX_LOGIT_DIFF
    assert result.max_row_logit_diff <= MAX_LOGIT_DIFF  # the heatmap, row by row


@pytest.mark.parametrize("batch", RANDOM_BATCHES)
def test_shipped_onnx_matches_pytorch_on_noise_at_any_batch(model, batch):
    noise = np.random.default_rng(batch).uniform(0, 255, (batch, 28, 28))
    result, _ = compare(f"noise {batch}", model, Classifier(DEFAULT_MODEL), noise)
    assert result.max_prob_diff <= MAX_PROB_DIFF
    assert result.max_row_logit_diff <= MAX_LOGIT_DIFF
    assert result.argmax_agreement == 1.0


def test_parity_check_catches_a_model_that_drifted(model, sample, tmp_path):
    """The check itself can fail: nudge one head bias in a copy of the weights."""
    images, labels = sample
    drifted = load_weights(WEIGHTS)
    with torch.no_grad():
        drifted.head.bias[3] += 1e-3
    report = check_parity(drifted, DEFAULT_MODEL, images[:50], labels[:50], "first 50")
    assert not report.passed
    assert report.comparisons[0].max_logit_diff == pytest.approx(1e-3, rel=1e-2)


def test_parity_check_catches_row_logits_that_drifted_alone(model, sample):
    """Rows 1..27 are the heatmap, not the answer: drift there alone must fail parity."""
    images, labels = sample
    drifted = load_weights(WEIGHTS)
    real_forward = drifted.forward

    def early_rows_off(images, per_row=False):
        if not per_row:
            return real_forward(images)
        logits, rows = real_forward(images, per_row=True)
        rows = rows.clone()
        rows[:, 0, 3] += 1e-3  # the belief after the first row only
        return logits, rows

    drifted.forward = early_rows_off
    report = check_parity(drifted, DEFAULT_MODEL, images[:20], labels[:20], "first 20")
    first = report.comparisons[0]
    assert first.max_prob_diff <= MAX_PROB_DIFF and first.max_logit_diff <= MAX_LOGIT_DIFF
    assert first.max_row_logit_diff == pytest.approx(1e-3, rel=1e-2)
    assert not first.passed and not report.passed


def test_int8_model_agrees_with_float_on_the_sample(sample):
    if not INT8_MODEL.exists():
        pytest.skip("no int8 model shipped (it did not qualify at export)")
    images, labels = sample
    report = evaluate_int8(DEFAULT_MODEL, INT8_MODEL, images, labels, "sample")
    print(report.line())
    card = Classifier(INT8_MODEL).card.raw
    assert card["weights_sha256"] == sha256_file(WEIGHTS)
    assert report.argmax_agreement >= 0.99
    assert report.p99_prob_diff <= MAX_P99_PROB_DIFF
    assert report.size_bytes < report.float_size_bytes / 3
    # The card's drift was measured on thousands of digits (the validation split).
    drift = card["confidence_drift"]
    assert drift["digits"] >= 5_000
    assert card["approximate_confidence"] == (drift["max_abs_prob_diff"] > EXACT_PROB_DIFF)


@pytest.mark.slow
def test_shipped_onnx_matches_pytorch_on_full_mnist(model):
    if mnist_dir() is None:
        pytest.skip("full MNIST is not on this machine (set $HRNN_MNIST_DATA)")
    images, labels, source = load_eval_set(mnist_dir(), download=False)
    result, _ = compare(source, model, Classifier(DEFAULT_MODEL), images, labels)
    assert result.count == 10_000
    assert result.passed, result
