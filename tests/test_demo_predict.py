"""python -m demo.predict: one JSON line per file, errors reported in place, exit status says.

Uses the shipped demo/hrnn_mnist.onnx (skipped if it has not been exported). Accuracy is
checked relative to the model's own accuracy on the same digits as MNIST arrays, so the test
judges the preprocessing path, not how well the shipped weights were trained.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.evaluate_preprocessing import draw_on_canvas
from bench.paths import REPO, SAMPLE
from demo.photo import photo_ink
from demo.predict import NO_INK, main, read_digit
from demo.reader import DEFAULT_MODEL, INT8_MODEL, ModelCard, Reader, Reading

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="run python -m export first")


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLE) as data:
        return data["images"][:100], data["labels"][:100].astype(int)


@pytest.fixture(scope="module")
def drawn_files(sample, tmp_path_factory) -> list[Path]:
    """The sample's first 100 digits redrawn as sketchpad-like PNG files."""
    folder = tmp_path_factory.mktemp("drawn")
    rng = np.random.default_rng(0)
    paths = []
    for index, digit in enumerate(sample[0]):
        path = folder / f"digit{index:03d}.png"
        Image.fromarray(draw_on_canvas(digit, rng)).save(path)
        paths.append(path)
    return paths


def run_main(argv: list[str], capsys) -> tuple[int, list[dict]]:
    status = main(argv)
    lines = capsys.readouterr().out.splitlines()
    return status, [json.loads(line) for line in lines]


def test_one_json_line_per_file_with_label_confidence_and_probabilities(drawn_files, capsys):
    status, records = run_main([str(p) for p in drawn_files[:5]], capsys)
    assert status == 0
    names = list(Reader(DEFAULT_MODEL).card.class_names)
    assert [r["file"] for r in records] == [str(p) for p in drawn_files[:5]]
    for record in records:
        assert set(record) == {"file", "label", "confidence", "sure", "probabilities"}
        assert isinstance(record["sure"], bool)
        assert list(record["probabilities"]) == names
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert record["confidence"] == max(record["probabilities"].values())
        assert record["probabilities"][record["label"]] == record["confidence"]


def test_the_full_path_reads_drawings_about_as_well_as_mnist_itself(sample, drawn_files, capsys):
    images, labels = sample
    own = Reader(DEFAULT_MODEL).run(images / np.float32(255))["probabilities"].argmax(axis=1)
    own_accuracy = (own == labels).mean()
    _, records = run_main([str(p) for p in drawn_files], capsys)
    drawn_accuracy = np.mean(
        [r.get("label") == str(y) for r, y in zip(records, labels, strict=True)]
    )
    assert drawn_accuracy >= own_accuracy - 0.1, (drawn_accuracy, own_accuracy)


def test_bad_files_get_error_entries_and_the_rest_are_still_read(drawn_files, tmp_path, capsys):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not a PNG")
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(drawn_files[1].read_bytes()[:300])
    files = [garbage, drawn_files[0], tmp_path / "missing.png", blank, truncated, drawn_files[1]]
    status, records = run_main([str(f) for f in files], capsys)
    assert status == 1
    assert [r["file"] for r in records] == [str(f) for f in files]
    errors = [r.get("error") for r in records]
    assert errors[1] is None and errors[5] is None
    assert "label" in records[1] and "label" in records[5]
    assert "not an image" in errors[0]
    assert "No image file" in errors[2]
    assert errors[3] == NO_INK and "no ink" in NO_INK
    assert errors[4]


def test_a_missing_model_is_one_line_on_stderr_and_exit_2(drawn_files, tmp_path, capsys):
    assert main([str(drawn_files[0]), "--model", str(tmp_path / "nope.onnx")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ") and "nope.onnx" in captured.err


def test_int8_flag_picks_the_quantized_model(drawn_files, capsys):
    if not INT8_MODEL.is_file():
        pytest.skip("no int8 model exported")
    status, records = run_main(["--int8", str(drawn_files[0])], capsys)
    assert status == 0 and "label" in records[0]
    with pytest.raises(SystemExit):
        main(["--int8", "--model", str(DEFAULT_MODEL), str(drawn_files[0])])


def test_runs_as_a_module(drawn_files, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (50, 50), "white").save(blank)
    command = [sys.executable, "-m", "demo.predict", str(drawn_files[0]), str(blank)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert "label" in first and second == {"file": str(blank), "error": NO_INK}


def _reading(rows: np.ndarray, probabilities: np.ndarray, sure_at: float = 0.0) -> Reading:
    names = tuple("0123456789")
    return Reading(names, probabilities, np.zeros((28, 28), np.float32), rows, sure_at, "float32")


def test_settled_row_is_where_the_running_answer_stops_changing():
    rows = np.zeros((28, 10), np.float32)
    rows[:, 3] = 1.0
    rows[:10, 5] = 2.0  # rows 1..10 believed 5, row 11 on believed 3
    final = np.eye(10, dtype=np.float32)[3]
    assert _reading(rows, final).settled_row == 11
    assert _reading(np.tile(final, (28, 1)), final).settled_row == 1


def test_sure_is_the_cards_threshold_and_the_runner_up_is_second():
    probabilities = np.array([0.05, 0.6, 0.3, 0.05, 0, 0, 0, 0, 0, 0], np.float32)
    rows = np.tile(probabilities, (28, 1))
    assert _reading(rows, probabilities, sure_at=0.6).sure  # at the threshold counts as sure
    unsure = _reading(rows, probabilities, sure_at=0.61)
    assert not unsure.sure and (unsure.label, unsure.runner_up) == ("1", "2")
    assert unsure.record()["sure"] is False and unsure.record()["confidence"] == 0.6


def test_read_gives_what_the_model_saw_and_its_row_beliefs(drawn_files):
    reading = Reader(DEFAULT_MODEL).read(photo_ink(drawn_files[0]))
    assert reading.pixels.shape == (28, 28) and reading.rows.shape == (28, 10)
    assert reading.pixels.max() > 200 and reading.pixels.min() == 0
    np.testing.assert_allclose(reading.rows[-1], reading.probabilities, atol=1e-6)


def test_the_cli_says_not_sure_below_a_calibrated_cards_threshold(drawn_files):
    shipped = read_digit(Reader(DEFAULT_MODEL), drawn_files[0])
    reader = Reader(DEFAULT_MODEL)
    strict = dict(reader.card.raw["calibration"], sure_at=(1 + shipped["confidence"]) / 2)
    reader.card = ModelCard.from_json(json.dumps(dict(reader.card.raw, calibration=strict)))
    record = read_digit(reader, drawn_files[0])
    assert record["sure"] is False and shipped["sure"] is True
    assert shipped["label"] == record["label"] and shipped["confidence"] == record["confidence"]
