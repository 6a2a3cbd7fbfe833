"""demo.reader: the card it reads, what the reader graph returns for any ink plane, and how it
refuses bad files and bad planes."""

import json
import subprocess
import sys
import threading

import numpy as np
import onnx
import pytest

from bench.paths import SAMPLE
from demo.reader import (
    DEFAULT_MODEL,
    INT8_MODEL,
    MOSTLY_INK,
    OUTPUT_NAMES,
    RUN_BATCH,
    ModelCard,
    ModelError,
    PreprocessError,
    Reader,
)
from export.reference import stroke_width


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def ink() -> np.ndarray:
    """MNIST test digits as ink planes: pixels / 255."""
    with np.load(SAMPLE) as sample:
        return sample["images"][:24].astype(np.float32) / 255


def card_dict(**changes) -> dict:
    card = {
        "name": "hrnn-mnist",
        "format": "hrnn-mnist-card/2",
        "precision": "float32",
        "input": {"name": "ink", "image_size": 28, "digit_box": 20, "pixel_scale": 255.0},
        "calibration": {"temperature": 1.1, "wide_from": 3.8, "wide_power": 1.0, "sure_at": 0.8},
        "class_names": [str(i) for i in range(10)],
    }
    return card | changes


def softmax(logits: np.ndarray) -> np.ndarray:
    wide = np.asarray(logits, np.float64)
    shifted = np.exp(wide - wide.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# --- the model card -----------------------------------------------------------------------


def test_card_properties_come_from_the_json():
    card = ModelCard.from_json(json.dumps(card_dict(precision="int8")))
    assert (card.image_size, card.digit_box, card.pixel_scale) == (28, 20, 255.0)
    assert (card.temperature, card.wide_from, card.wide_power, card.sure_at) == (1.1, 3.8, 1, 0.8)
    assert card.class_names == tuple("0123456789")
    assert (card.precision, card.input_name) == ("int8", "ink")


@pytest.mark.parametrize(
    "calibration",
    [{"temperature": 0}, {"temperature": -1}, {"sure_at": 1}, {"wide_from": 0}, {"wide_power": -1}],
)
def test_a_card_with_an_impossible_calibration_is_refused(calibration):
    fitted = card_dict()["calibration"] | calibration
    with pytest.raises(ModelError):
        ModelCard.from_json(json.dumps(card_dict(calibration=fitted)))


@pytest.mark.parametrize(
    "text",
    [
        "not json {",
        json.dumps(["a", "list"]),
        json.dumps(card_dict(format="hrnn-mnist-card/1")),
        json.dumps({k: v for k, v in card_dict().items() if k != "input"}),
        json.dumps({k: v for k, v in card_dict().items() if k != "calibration"}),
        json.dumps(card_dict(class_names=[])),
    ],
    ids=["not-json", "not-an-object", "a-bare-model", "no-input", "no-calibration", "no-classes"],
)
def test_unusable_card_is_a_model_error(text):
    with pytest.raises(ModelError):
        ModelCard.from_json(text)


def test_shipped_card_describes_the_reader(reader):
    card = reader.card
    assert card.raw["name"] == "hrnn-mnist"
    assert card.raw["input"]["shape"] == ["batch", "height", "width"]
    assert "0 = paper, 1 = ink" in card.raw["input"]["ink"]
    assert set(card.raw["outputs"]) == set(OUTPUT_NAMES)
    assert card.raw["outputs"]["image"] == ["batch", 28, 28]
    assert "ink_found" in card.raw["meaning"]
    assert {"core", "max_steps", "mnist_stroke"} <= set(card.raw["normalisation"])
    assert card.precision == "float32"
    assert card.temperature > 0 and card.sure_at > 0
    assert len(card.raw["weights_sha256"]) == 64


# --- reading ink planes -------------------------------------------------------------------


def test_a_batch_gives_every_output_in_its_shape(reader, ink):
    out = reader.run(ink)
    n = len(ink)
    assert out["probabilities"].shape == (n, 10)
    assert out["row_probabilities"].shape == (n, 28, 10)
    assert out["image"].shape == (n, 28, 28)
    assert out["logits"].shape == (n, 10) and out["row_logits"].shape == (n, 28, 10)
    assert out["stroke_width"].shape == (n,) and out["ink_found"].dtype == bool
    assert out["ink_found"].all()
    np.testing.assert_allclose(out["probabilities"].sum(1), 1, atol=1e-5)
    assert out["image"].min() >= 0 and out["image"].max() == pytest.approx(255, abs=0.01)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (28, 28), (280, 280), (40, 500), (900, 64)])
def test_any_size_of_plane_is_read_without_nan(reader, shape):
    plane = np.zeros(shape, np.float32)
    plane[shape[0] // 4 : 3 * shape[0] // 4 + 1, shape[1] // 2] = 1.0  # a bar
    out = reader.run(plane)
    for value in out.values():
        assert np.isfinite(value.astype(np.float64)).all()


def test_runs_are_split_into_pieces_and_put_back_in_order(reader, ink):
    together = reader.run(ink)["probabilities"]
    assert len(ink) > RUN_BATCH
    one_by_one = np.concatenate([reader.run(plane)["probabilities"] for plane in ink])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_the_calibration_is_inside_the_graph(reader, ink):
    """probabilities = softmax(logits / T), T warmed by the stroke width of the image it saw."""
    out = reader.run(ink)
    card = reader.card
    widths = np.array([stroke_width(image / 255 > 0.5) for image in out["image"]])
    np.testing.assert_allclose(out["stroke_width"], widths, atol=1e-4)
    warmth = card.temperature * np.maximum(1, widths / card.wide_from) ** card.wide_power
    np.testing.assert_allclose(
        out["probabilities"], softmax(out["logits"] / warmth[:, None]), atol=1e-5
    )
    np.testing.assert_allclose(
        out["row_probabilities"], softmax(out["row_logits"] / warmth[:, None, None]), atol=1e-5
    )


@pytest.mark.parametrize("value", [0.0, 0.3, 0.5], ids=["blank", "faint", "at-the-core-edge"])
def test_a_plane_with_nothing_over_half_is_nothing_to_read(reader, value):
    plane = np.full((280, 280), value, np.float32)
    out = reader.run(plane)
    assert not out["ink_found"][0]
    assert not out["probabilities"].any() and not out["image"].any()
    assert reader.read(plane) is None


def test_a_dot_is_nothing_to_read_but_a_short_stroke_is(reader):
    dot = np.zeros((280, 280), np.float32)
    dot[140:146, 140:146] = 1.0
    assert reader.read(dot) is None
    bar = np.zeros((280, 280), np.float32)
    bar[60:220, 136:146] = 1.0
    reading = reader.read(bar)
    assert reading is not None and reading.label == "1"


def test_a_reading_says_what_the_page_and_the_cli_show(reader, ink):
    reading = reader.read(ink[0])
    assert reading.pixels.shape == (28, 28) and reading.rows.shape == (28, 10)
    assert reading.label == reading.class_names[int(reading.probabilities.argmax())]
    assert reading.runner_up != reading.label
    assert 1 <= reading.settled_row <= 28
    record = reading.record()
    assert set(record) == {"label", "confidence", "sure", "probabilities"}
    assert record["sure"] == (reading.confidence >= reader.card.sure_at)
    json.dumps(record)


def test_a_plane_that_is_mostly_ink_is_one_sentence(reader):
    with pytest.raises(PreprocessError, match="mostly ink") as raised:
        reader.read(np.ones((280, 280), np.float32))
    assert str(raised.value) == MOSTLY_INK


def test_values_outside_zero_to_one_are_clipped_to_ink_and_paper(reader, ink):
    np.testing.assert_allclose(
        reader.run(ink[0] * 3 - 1)["probabilities"],
        reader.run(np.clip(ink[0] * 3 - 1, 0, 1))["probabilities"],
        atol=1e-6,
    )


def test_concurrent_runs_agree(reader, ink):
    expected = reader.run(ink[:8])["probabilities"]
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(3):
            results.append(reader.run(ink[:8])["probabilities"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    for probabilities in results:
        np.testing.assert_array_equal(probabilities, expected)


def test_an_empty_batch_gives_empty_outputs(reader):
    out = reader.run(np.zeros((0, 28, 28), np.float32))
    assert out["probabilities"].shape == (0, 10) and out["image"].shape == (0, 28, 28)


@pytest.mark.parametrize(
    "shape", [(28,), (1, 1, 28, 28), (28, 28, 3, 1), (0, 28), (28, 0), (5000, 4)], ids=str
)
def test_wrong_plane_shape_is_a_model_error(reader, shape):
    with pytest.raises(ModelError, match="shape"):
        reader.run(np.zeros(shape, np.float32))


@pytest.mark.parametrize(
    "plane",
    [np.zeros((28, 28), bool), np.zeros((28, 28), complex), np.full((28, 28), np.nan)],
    ids=["bool", "complex", "nan"],
)
def test_non_real_or_non_finite_ink_is_a_model_error(reader, plane):
    with pytest.raises(ModelError):
        reader.run(plane)


def test_read_takes_one_plane(reader, ink):
    with pytest.raises(ModelError, match="one ink plane"):
        reader.read(ink[:2])


# --- files that are not our reader --------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        Reader(tmp_path / "nope.onnx")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Reader(path)


def test_truncated_model(tmp_path):
    path = tmp_path / "half.onnx"
    data = DEFAULT_MODEL.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Reader(path)


def _with_card(tmp_path, change) -> onnx.ModelProto:
    proto = onnx.load(str(DEFAULT_MODEL))
    for prop in proto.metadata_props:
        if prop.key == "model_card":
            card = json.loads(prop.value)
            change(card)
            prop.value = json.dumps(card)
    path = tmp_path / "changed.onnx"
    onnx.save(proto, str(path))
    return path


def test_onnx_without_our_card(tmp_path):
    proto = onnx.load(str(DEFAULT_MODEL))
    del proto.metadata_props[:]
    path = tmp_path / "anonymous.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match="not an hrnn-mnist one"):
        Reader(path)


def test_onnx_whose_card_lies_about_the_input(tmp_path):
    path = _with_card(tmp_path, lambda card: card["input"].update(name="pixels"))
    with pytest.raises(ModelError, match="a reader takes 'pixels'"):
        Reader(path)


def test_a_bare_model_of_the_earlier_kind_is_refused(tmp_path):
    path = _with_card(tmp_path, lambda card: card.update(format="hrnn-mnist-card/1"))
    with pytest.raises(ModelError, match="format"):
        Reader(path)


def test_int8_reader_loads_with_its_own_card(ink):
    if not INT8_MODEL.exists():
        pytest.skip("no int8 model shipped (it did not qualify at export)")
    int8 = Reader(INT8_MODEL)
    assert int8.card.precision == "int8"
    assert (int8.run(ink)["ink_found"]).all()


def test_reader_needs_neither_torch_nor_onnx():
    """The demo's runtime is onnxruntime + numpy: importing and reading pulls in no torch."""
    code = (
        "import sys, numpy as np; from demo.reader import Reader; "
        "Reader().run(np.zeros((28, 28))); "
        "print(sorted(m for m in ('torch', 'onnx', 'train', 'export') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
