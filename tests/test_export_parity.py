"""The headline guarantee: the shipped reader .onnx, run by the demo's own Reader, reads what the
torch module it was exported from and the plain numpy reference read: the same top class on at
least 99.9% of digits (drawn, pen-rendered, MNIST), the same 'nothing to read', and
probabilities within the stated bounds."""

import json

import numpy as np
import pytest
import torch

from bench.paths import SAMPLE, WEIGHTS
from demo.reader import DEFAULT_MODEL, INT8_MODEL, Reader
from export.parity import (
    MAX_GRAPH_PROB_DIFF,
    MAX_REFERENCE_PROB_DIFF,
    MIN_AGREEMENT,
    check_parity,
    compare,
    drawn,
    module_outputs,
    nothing_to_read,
    pen_renders,
    reference_outputs,
)
from export.quantize import EXACT_PROB_DIFF, MAX_P99_PROB_DIFF, evaluate_int8
from train.checkpoint import load_weights, sha256_file


@pytest.fixture(scope="module")
def model():
    assert WEIGHTS.is_file(), f"{WEIGHTS} is not in the repo; the parity guarantee needs it"
    torch.set_num_threads(1)
    return load_weights(WEIGHTS)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(DEFAULT_MODEL, threads=1)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLE) as data:
        return data["images"], data["labels"].astype(np.int64)


def both(model, reader: Reader, planes: np.ndarray, labels=None) -> tuple:
    """(vs torch module, vs numpy reference) comparisons of the shipped file on `planes`."""
    planes = np.ascontiguousarray(planes, np.float32)
    ours, card = reader.run(planes), reader.card.raw
    theirs = module_outputs(model, planes, card)
    graph = compare("t", "torch", theirs, ours, labels, MAX_GRAPH_PROB_DIFF)
    numpy = compare("t", "numpy", reference_outputs(model, planes, card), ours, labels, 0.05)
    return graph, numpy


def test_shipped_onnx_was_exported_from_the_shipped_weights(reader):
    card = reader.card.raw
    assert card["weights_sha256"] == sha256_file(WEIGHTS), (
        "demo/hrnn_mnist.onnx is stale: rerun `python -m export --quantize`"
    )
    weights_card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    for copied in ("calibration", "training_data"):  # what the page reads, from training
        assert card.get(copied) == weights_card.get(copied), copied


def test_shipped_reader_matches_on_mnist_digits_as_ink(model, reader, sample):
    images, labels = sample
    graph, numpy = both(model, reader, images[:300] / np.float32(255), labels[:300])
    for result in (graph, numpy):
        assert result.passed, result
        assert result.top_class_agreement >= MIN_AGREEMENT
        assert result.accuracy_onnx == result.accuracy_reference
    assert graph.max_prob_diff <= MAX_GRAPH_PROB_DIFF
    assert numpy.max_prob_diff <= MAX_REFERENCE_PROB_DIFF


def test_shipped_reader_matches_on_drawings_and_pen_strokes(model, reader, sample):
    images, labels = sample
    sets = [(drawn(images[:60], seed=3), labels[:60])]
    pens = pen_renders(60, seed=3)
    if pens is not None:
        sets.append(pens)
    for planes, truth in sets:
        graph, numpy = both(model, reader, planes, truth)
        assert graph.passed and numpy.passed, (graph, numpy)
        assert graph.max_prob_diff <= 1e-4  # large planes: same ops, float rounding only


def test_nothing_to_read_is_the_same_everywhere(model, reader):
    graph, numpy = both(model, reader, nothing_to_read())
    assert graph.ink_found_agreement == numpy.ink_found_agreement == 1.0
    assert not reader.run(nothing_to_read())["ink_found"].any()


def test_parity_check_catches_a_model_that_drifted(sample):
    """The check itself can fail: the file no longer matches weights nudged after export."""
    images, labels = sample
    drifted = load_weights(WEIGHTS)
    with torch.no_grad():
        drifted.head.bias[3] += 0.5
    report = check_parity(drifted, DEFAULT_MODEL, images[:40], labels[:40], "first 40")
    assert not report.passed
    assert report.comparisons[0].max_prob_diff > MAX_GRAPH_PROB_DIFF
    assert any(line.startswith("  FAIL") for line in report.lines())


def test_int8_reader_agrees_with_float_on_the_sample(sample):
    if not INT8_MODEL.exists():
        pytest.skip("no int8 model shipped (it did not qualify at export)")
    images, labels = sample
    report = evaluate_int8(DEFAULT_MODEL, INT8_MODEL, images[:300], labels[:300], "sample")
    card = Reader(INT8_MODEL).card.raw
    assert card["weights_sha256"] == sha256_file(WEIGHTS)
    assert report.argmax_agreement >= 0.99
    assert report.p99_prob_diff <= MAX_P99_PROB_DIFF
    assert report.size_bytes < report.float_size_bytes / 2
    # The card's drift was measured on thousands of digits (the validation split).
    drift = card["confidence_drift"]
    assert drift["digits"] >= 5_000
    assert card["approximate_confidence"] == (drift["max_abs_prob_diff"] > EXACT_PROB_DIFF)
