"""bench.evaluate and bench.handwriting: the table's numbers mean what their names say, models are
read through the demo's own path (the card's calibration applied), and strokes are drawn as
the page's canvas holds them."""

import json
from pathlib import Path

import numpy as np
import pytest

from bench import evaluate, handwriting
from bench.evaluate import parse_models, score, worst_classes
from bench.handwriting import BRUSH, CANVAS, DRAWN_SIZE, EvalSet, draw_strokes
from bench.paths import SAMPLE, WEIGHTS
from demo.reader import DEFAULT_MODEL
from demo.reader import Reader as Classifier
from train.calibrate import calibration_error as calibration

# --- the numbers -----------------------------------------------------------------------


def test_ece_is_the_share_weighted_gap_between_accuracy_and_confidence():
    top = np.array([0.95] * 10 + [0.55] * 10)
    right = np.array([True] * 10 + [True] * 5 + [False] * 5)
    # bin of 0.95: right 100% vs 95% -> 0.05; bin of 0.55: right 50% vs 55% -> 0.05; half each
    assert calibration(top, right) == pytest.approx(0.05)
    assert calibration(np.full(4, 0.9), np.array([True, True, False, False])) == pytest.approx(0.4)
    assert calibration(np.full(10, 0.9), np.array([True] * 9 + [False])) == pytest.approx(0.0)
    assert calibration(np.array([]), np.array([], dtype=bool)) == 0.0


def one_hot(guesses, confidence: float) -> np.ndarray:
    probabilities = np.full((len(guesses), 10), (1 - confidence) / 9, np.float32)
    probabilities[np.arange(len(guesses)), guesses] = confidence
    return probabilities


def test_score_counts_accuracy_confident_answers_not_sure_and_unreadable_pictures():
    labels = np.array([1, 1, 1, 7, 7, 3])
    probabilities = np.concatenate(
        [
            one_hot([1, 1], 0.99),  # right, confident
            one_hot([7], 0.95),  # a 1 read as 7, confidently
            one_hot([7], 0.60),  # right, not sure below 0.7
            one_hot([1], 0.50),  # a 7 read as 1, not sure
            np.zeros((1, 10), np.float32),  # a picture with no ink
        ]
    )
    cell = score(probabilities, labels, sure_at=0.7, classes=10)
    assert (cell["n"], cell["correct"], cell["accuracy"]) == (6, 3, 0.5)
    assert cell["confident_share"] == 0.5  # 3 of 6 at >= 90%
    assert cell["confident_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert cell["wrong_at_confident"] == 1
    assert cell["not_sure_share"] == 0.5  # 0.60, 0.50 and the empty picture
    assert cell["sure_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert cell["unreadable"] == 1
    confusion = np.array(cell["confusion"])
    assert confusion.shape == (10, 11) and confusion.sum() == 6
    assert (confusion[1, 7], confusion[7, 1], confusion[3, 10]) == (1, 1, 1)
    assert cell["worst_classes"][0] == "3: 1/1 wrong, mostly read as nothing (1)"


def test_without_sure_at_in_the_card_there_is_no_not_sure_column():
    cell = score(one_hot([4, 4], 0.5), np.array([4, 4]), sure_at=0.0, classes=10)
    assert cell["not_sure_share"] is None and cell["sure_accuracy"] is None


def test_worst_classes_rank_by_error_rate_and_name_the_usual_mistake():
    confusion = np.zeros((10, 11), np.int64)
    np.fill_diagonal(confusion[:, :10], 100)
    confusion[1, 7], confusion[1, 4] = 12, 3  # 15/115 wrong
    confusion[9, 3] = 5  # 5/105
    confusion[4, 9] = 30  # 30/130: the worst
    assert worst_classes(confusion, 3) == [
        "4: 30/130 wrong, mostly read as 9 (30)",
        "1: 15/115 wrong, mostly read as 7 (12)",
        "9: 5/105 wrong, mostly read as 3 (5)",
    ]
    assert worst_classes(np.diag(np.full(10, 5)), 3) == []  # nothing wrong, nothing listed


def test_models_are_name_path_pairs_and_default_to_the_shipped_model(tmp_path):
    assert parse_models(["a=x.onnx", "b=dir/y.onnx"]) == {
        "a": evaluate.Path("x.onnx"),
        "b": evaluate.Path("dir/y.onnx"),
    }
    assert parse_models(None)["shipped"] == DEFAULT_MODEL
    with pytest.raises(SystemExit, match="NAME=PATH"):
        parse_models(["just-a-path.onnx"])


# --- the pictures ----------------------------------------------------------------------


def strokes(*lines) -> tuple[np.ndarray, ...]:
    return tuple(np.array(line, np.float32) for line in lines)


def test_strokes_are_drawn_black_on_white_at_a_drawn_size_with_gaps_kept():
    bars = strokes([(0, 0), (0, 300)], [(300, 0), (300, 300)])  # two pen-down strokes
    image = draw_strokes(bars, np.random.default_rng(0))
    assert image.shape == (CANVAS, CANVAS) and image.dtype == np.uint8
    assert image[0, 0] == 255 and image.min() == 0
    ink = image < 128
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert DRAWN_SIZE[0] * CANVAS - 2 <= max(height, width) <= DRAWN_SIZE[1] * CANVAS + 2
    middle = ink[:, cols[0] + width // 2]
    assert not middle.any(), "the pen-up jump between the strokes was drawn"
    assert ink[:, cols[0] + BRUSH // 2].sum() >= height - 2  # a solid bar, brush-wide


def test_drawing_is_fixed_by_the_seed():
    seven = strokes([(0, 0), (90, 0), (40, 200)])
    first = draw_strokes(seven, np.random.default_rng(4))
    np.testing.assert_array_equal(first, draw_strokes(seven, np.random.default_rng(4)))
    assert (first != draw_strokes(seven, np.random.default_rng(5))).any()


# --- the command -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def recalibrated(tmp_path_factory):
    """recalibrated(temperature, sure_at): the shipped weights exported as a reader whose
    graph softmax uses that temperature (warming for no width) and whose card says so."""
    from export.onnx_export import (
        build_card,
        export_proto,
        load_model_and_card,
        set_card,
        write_model,
    )
    from train.checkpoint import sha256_file

    model, training = load_model_and_card(WEIGHTS)
    made = {}

    def export(temperature: float, sure_at: float) -> Path:
        if (temperature, sure_at) not in made:
            calibrated = dict(
                training, calibration={"temperature": temperature, "sure_at": sure_at}
            )
            card = build_card(model, calibrated, sha256_file(WEIGHTS), {})
            proto, card["exporter"] = export_proto(model, card)
            set_card(proto, card)
            path = tmp_path_factory.mktemp("hot") / "calibrated.onnx"
            write_model(proto, path)
            made[temperature, sure_at] = path
        return made[temperature, sure_at]

    return export


@pytest.fixture
def tiny_sets(monkeypatch):
    """Twelve MNIST digits read directly, three drawn strokes and a blank page as pictures."""
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"][:12], sample["labels"][:12].astype(np.int64)
    rng = np.random.default_rng(0)
    one = strokes([(50, 0), (50, 300)])
    pictures = [draw_strokes(one, rng) for _ in range(3)] + [
        np.full((CANVAS, CANVAS), 255, np.uint8)
    ]
    sets = [
        EvalSet("digits", "sample", list(images), labels, direct=True),
        EvalSet("drawn", "test strokes", pictures, np.array([1, 1, 1, 1])),
    ]
    monkeypatch.setattr(evaluate, "build_sets", lambda *args: sets)
    return sets


@pytest.mark.slow
def test_the_command_reads_every_model_through_its_card_and_writes_the_table(
    tmp_path, tiny_sets, capsys, recalibrated
):
    hot = recalibrated(temperature=3.0, sure_at=0.6)
    out = tmp_path / "evaluation.json"
    models = ["--models", f"shipped={DEFAULT_MODEL}", f"hot={hot}"]
    assert evaluate.main([*models, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("python -m bench.evaluate --models shipped=")
    assert result["models"]["hot"]["temperature"] == 3.0
    assert result["models"]["hot"]["wide_power"] == 0  # its card says nothing of widths
    assert result["models"]["shipped"]["wide_power"] == Classifier().card.wide_power > 0
    assert (
        result["models"]["shipped"]["weights_sha256"] == result["models"]["hot"]["weights_sha256"]
    )
    assert result["seeds"] == handwriting.SEEDS
    digits = result["sets"]["digits"]["models"]
    drawn = result["sets"]["drawn"]["models"]
    assert result["sets"]["drawn"]["n"] == 4 and drawn["shipped"]["unreadable"] == 1
    assert digits["hot"]["correct"] == digits["shipped"]["correct"]  # same network
    assert digits["hot"]["mean_confidence"] < digits["shipped"]["mean_confidence"]
    probabilities = evaluate.read_set(Classifier(hot), tiny_sets[0].images, True)["probabilities"]
    assert digits["hot"]["not_sure_share"] == pytest.approx(
        (probabilities.max(1) < 0.6).mean(), abs=1e-4
    )
    shipped = Classifier(DEFAULT_MODEL)
    threshold = shipped.card.sure_at
    confident = evaluate.read_set(shipped, tiny_sets[0].images, True)["probabilities"].max(1)
    assert digits["shipped"]["not_sure_share"] == pytest.approx(
        (confident < threshold).mean(), abs=1e-4
    )
    table = capsys.readouterr().out
    assert "| digits | 12 | hot |" in table and "| drawn | 4 | shipped |" in table


def test_a_missing_model_is_one_sentence_and_exit_status_2(tmp_path, tiny_sets, capsys):
    missing = tmp_path / "nowhere.onnx"
    assert evaluate.main(["--models", f"x={missing}", "--out", str(tmp_path / "e.json")]) == 2
    assert capsys.readouterr().err.strip() == f"error: model file {missing} does not exist"
    assert not (tmp_path / "e.json").exists()


def test_validation_rows_hold_only_validation_data(monkeypatch):
    """--validation chooses between models: MNIST's held-out training digits and the pendigits
    validation writers only, never a test digit or the held-out test writers."""
    train_images = np.arange(60 * 28 * 28, dtype=np.uint32).reshape(60, 28, 28) % 256
    train_labels = np.arange(60) % 10
    loaded = []

    def load_split(split, folder, download):
        loaded.append(split)
        return train_images.astype(np.uint8), train_labels

    monkeypatch.setattr(handwriting, "load_split", load_split)
    monkeypatch.setattr(handwriting, "VALIDATION_SIZE", 12)
    monkeypatch.setattr(handwriting, "REDRAW_COUNT", 4)
    pen = [
        EvalSet(name, "pen", [], np.array([]))
        for name in ("pendigits_test", "pendigits_validation")
    ]
    monkeypatch.setattr(handwriting, "pendigits_sets", lambda path: pen)
    sets = evaluate.build_sets("somewhere", None, [], validation=True)
    names = [each.name for each in sets]
    assert loaded == ["train"] and "pendigits_test" not in names and "sklearn_digits" not in names
    assert names[:2] == ["mnist_validation", "mnist_validation_picture"]
    assert "pendigits_validation" in names and "mnist_fat_brush_validation" in names
    assert "mnist_box16_validation" in names
    index, _ = handwriting.validation_split(60, 12)
    assert np.array_equal(np.stack(sets[0].images), train_images[index])


def test_a_box_scan_stretches_the_ink_to_fill_the_square_one_bit_a_pixel():
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:15] = 255  # a 1: 20 rows tall, 3 columns wide
    scan = handwriting.box_scan(digit)
    assert scan.shape == (16, 16) and set(np.unique(scan)) == {0}  # a straight 1 fills the box
    digit[4:24, 12:15], digit[4:24, 8:10], digit[4:24, 18:20] = 0, 255, 255  # two bars: an 11
    scan = handwriting.box_scan(digit)
    assert set(np.unique(scan)) == {0, 255}  # black ink on white paper, nothing in between
    assert (scan[:, 0] == 0).all() and (scan[:, -1] == 0).all() and (scan[:, 7:9] == 255).all()


# --- bench.misses: the confident mistakes, as pictures ---------------------------------


@pytest.mark.slow
def test_misses_are_exactly_the_confident_wrong_answers_and_get_a_tile_each(recalibrated):
    from bench import misses

    with np.load(SAMPLE) as sample:
        images, labels = sample["images"][:20], sample["labels"][:20].astype(np.int64)
    wrong = (labels + 1) % 10  # every label wrong: each confident answer is a miss
    wrong[:5] = labels[:5]  # ... except these five, labelled right
    each = EvalSet("digits", "sample", list(images), wrong, direct=True)
    # a warmer temperature: some wrong answers at >= 90%, others below it (not misses)
    classifier = Classifier(recalibrated(temperature=1.8, sure_at=0.5))
    found = misses.confident_misses(classifier, each)
    probabilities = evaluate.read_set(classifier, list(images), True)["probabilities"]
    confident = probabilities.max(axis=1) >= evaluate.CONFIDENT
    read_wrong = probabilities.argmax(axis=1) != wrong
    expected = [i for i in range(20) if confident[i] and read_wrong[i]]
    assert [m["index"] for m in found] == expected and all(i >= 5 for i in expected)
    assert 0 < len(expected) < read_wrong.sum()  # both kinds of wrong answer are there
    assert all(m["read"] == labels[m["index"]] and m["confidence"] >= 0.9 for m in found)
    sheet = misses.contact_sheet(each, found)
    rows = -(-len(found) // misses.COLUMNS)
    width = misses.COLUMNS * (2 * misses.TILE + 8)
    assert sheet.size == (width, rows * (misses.TILE + misses.CAPTION))


def test_misses_names_an_unknown_set_in_one_sentence(capsys):
    from bench import misses

    assert misses.main(["--set", "sklearn_nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no set named 'sklearn_nonsense'") and "\n" not in err


def test_a_confident_accuracy_comes_with_its_95_percent_interval_rounded_for_the_json():
    assert evaluate.interval(842, 852) == [0.9785, 0.9936]  # train.calibrate.wilson, rounded
    assert evaluate.interval(0, 0) is None


def test_a_larger_redraw_count_only_adds_digits(monkeypatch):
    """--redraw-count narrows the intervals without changing the drawings already measured."""
    images = (np.arange(40 * 28 * 28, dtype=np.uint32).reshape(40, 28, 28) * 7 % 256).astype(
        np.uint8
    )
    monkeypatch.setattr(
        handwriting, "load_mnist_test", lambda data_dir: (images, np.arange(40) % 10, "x")
    )
    few, more = (handwriting.mnist_sets(None, count=count) for count in (5, 12))
    for small, large in zip(few[2:], more[2:], strict=True):  # redrawn, fat brush, box scans
        assert len(small.images) == 5 and len(large.images) == 12
        assert all(
            np.array_equal(a, b) for a, b in zip(small.images, large.images[:5], strict=True)
        )
        assert np.array_equal(small.labels, large.labels[:5])
