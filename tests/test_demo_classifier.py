"""demo.classifier: the card it reads, the shapes it returns, and how it refuses bad files."""

import json
import subprocess
import sys
import threading

import numpy as np
import onnx
import onnxruntime
import pytest
from PIL import Image, ImageFilter

from bench.paths import SAMPLE
from demo.classifier import (
    DEFAULT_MODEL,
    INT8_MODEL,
    RUN_BATCH,
    Classifier,
    ModelCard,
    ModelError,
    softmax,
)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    with np.load(SAMPLE) as sample:
        return sample["images"][:32]


def card_dict(**changes) -> dict:
    card = {
        "name": "hrnn-mnist",
        "format": "hrnn-mnist-card/1",
        "precision": "float32",
        "input": {
            "name": "image",
            "shape": ["batch", 28, 28],
            "dtype": "float32",
            "image_size": 28,
            "digit_box": 20,
            "pixel_scale": 255.0,
            "ink": "white-on-black",
        },
        "outputs": {"logits": ["batch", 10], "row_logits": ["batch", 28, 10]},
        "class_names": [str(i) for i in range(10)],
    }
    return card | changes


# --- the model card -----------------------------------------------------------------------


def test_card_properties_come_from_the_json():
    card = ModelCard.from_json(json.dumps(card_dict(precision="int8")))
    assert (card.image_size, card.digit_box, card.pixel_scale) == (28, 20, 255.0)
    assert card.class_names == tuple("0123456789")
    assert card.precision == "int8"
    assert card.input_name == "image"


def test_an_uncalibrated_card_changes_nothing_and_a_calibrated_one_says_how():
    plain = ModelCard.from_json(json.dumps(card_dict()))
    assert (plain.temperature, plain.sure_at) == (1.0, 0.0)
    fitted = ModelCard.from_json(
        json.dumps(card_dict(calibration={"temperature": 1.7, "sure_at": 0.6}))
    )
    assert (fitted.temperature, fitted.sure_at) == (1.7, 0.6)


@pytest.mark.parametrize(
    "calibration",
    [{"temperature": 0}, {"temperature": -1}, {"sure_at": 1}, {"wide_from": 0}, {"wide_power": -1}],
)
def test_a_card_with_an_impossible_calibration_is_refused(calibration):
    with pytest.raises(ModelError):
        ModelCard.from_json(json.dumps(card_dict(calibration=calibration)))


@pytest.mark.parametrize(
    "text",
    [
        "not json {",
        json.dumps(["a", "list"]),
        json.dumps(card_dict(format="someone-else/2")),
        json.dumps({k: v for k, v in card_dict().items() if k != "input"}),
        json.dumps(card_dict(class_names=[])),
    ],
    ids=["not-json", "not-an-object", "foreign-format", "no-input-section", "no-classes"],
)
def test_unusable_card_is_a_model_error(text):
    with pytest.raises(ModelError):
        ModelCard.from_json(text)


def test_shipped_model_card_matches_the_contract(classifier):
    card = classifier.card
    assert card.raw["name"] == "hrnn-mnist"
    assert (card.image_size, card.digit_box, card.pixel_scale) == (28, 20, 255.0)
    assert card.raw["input"]["ink"] == "white-on-black"
    assert card.class_names == tuple("0123456789")
    assert card.precision == "float32"
    assert card.raw["outputs"] == {"logits": ["batch", 10], "row_logits": ["batch", 28, 10]}
    assert set(card.raw["exporter"]) >= {"torch", "onnx", "opset"}
    assert len(card.raw["weights_sha256"]) == 64


# --- predictions --------------------------------------------------------------------------


def test_single_image_gives_a_batch_of_one(classifier, digits):
    prediction = classifier.predict(digits[0])
    assert prediction.probabilities.shape == (1, 10)
    assert prediction.logits.shape == (1, 10)
    assert prediction.row_probabilities.shape == (1, 28, 10)
    assert prediction.row_logits.shape == (1, 28, 10)


def test_batch_shapes_dtypes_and_sums(classifier, digits):
    prediction = classifier.predict(digits)
    assert prediction.probabilities.shape == (32, 10)
    assert prediction.row_logits.shape == (32, 28, 10)
    for array in (prediction.probabilities, prediction.row_probabilities, prediction.logits):
        assert array.dtype == np.float32
    np.testing.assert_allclose(prediction.probabilities.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(prediction.row_probabilities.sum(-1), 1.0, atol=1e-6)
    # The belief after the last row is the prediction.
    np.testing.assert_array_equal(prediction.row_logits[:, -1], prediction.logits)
    temperatures = classifier.card.temperatures(digits / np.float32(255))
    calibrated = softmax(prediction.logits / temperatures[:, None])
    np.testing.assert_array_equal(prediction.probabilities, calibrated)


def test_large_batches_are_run_in_pieces_and_put_back_in_order(classifier, digits):
    whole = classifier.predict(digits)  # 32 digits: more than one session.run
    assert len(digits) > RUN_BATCH
    for i in (0, RUN_BATCH - 1, RUN_BATCH, len(digits) - 1):
        alone = classifier.predict(digits[i])
        np.testing.assert_allclose(whole.row_logits[i], alone.row_logits[0], atol=1e-5)


def test_any_real_dtype_means_the_same_pixels(classifier, digits):
    as_uint8 = classifier.predict(digits[:4]).logits
    for dtype in (np.int64, np.float32, np.float64):
        np.testing.assert_array_equal(classifier.predict(digits[:4].astype(dtype)).logits, as_uint8)


def test_pixels_are_divided_by_the_card_scale(classifier, digits):
    """0..255 in, the graph sees pixels / 255: as a bare session fed the scaled pixels."""
    session = onnxruntime.InferenceSession(str(DEFAULT_MODEL), providers=["CPUExecutionProvider"])
    scaled, unscaled = (
        session.run(["logits"], {"image": (digits[:8] / scale).astype(np.float32)})[0]
        for scale in (255.0, 1.0)
    )
    logits = classifier.predict(digits[:8]).logits
    np.testing.assert_allclose(logits, scaled, atol=1e-6)
    assert np.abs(logits - unscaled).max() > 1e-4


def test_empty_batch_gives_empty_arrays(classifier):
    prediction = classifier.predict(np.zeros((0, 28, 28), np.uint8))
    assert prediction.probabilities.shape == (0, 10)
    assert prediction.row_logits.shape == (0, 28, 10)


def test_softmax_is_stable_for_huge_logits():
    probs = softmax(np.array([[1e4, 0.0, -1e4], [1000.0, 1000.0, 1000.0]], np.float32))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-7)


def test_concurrent_predictions_agree(classifier, digits):
    expected = classifier.predict(digits).logits
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(classifier.predict(digits).logits)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    for logits in results:
        np.testing.assert_array_equal(logits, expected)


@pytest.mark.parametrize(
    "shape", [(28,), (27, 28), (2, 28, 27), (1, 1, 28, 28), (28, 28, 3)], ids=str
)
def test_wrong_input_shape_is_a_model_error(classifier, shape):
    with pytest.raises(ModelError, match="shape"):
        classifier.predict(np.zeros(shape, np.float32))


@pytest.mark.parametrize(
    "images",
    [np.zeros((28, 28), bool), np.zeros((28, 28), complex), np.full((28, 28), np.nan)],
    ids=["bool", "complex", "nan"],
)
def test_non_real_or_non_finite_pixels_are_a_model_error(classifier, images):
    with pytest.raises(ModelError):
        classifier.predict(images)


# --- files that are not our model --------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        Classifier(tmp_path / "nope.onnx")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Classifier(path)


def test_truncated_model(tmp_path):
    path = tmp_path / "half.onnx"
    data = DEFAULT_MODEL.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Classifier(path)


def test_onnx_without_our_card(tmp_path):
    proto = onnx.load(str(DEFAULT_MODEL))
    del proto.metadata_props[:]
    path = tmp_path / "anonymous.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match="not an hrnn-mnist one"):
        Classifier(path)


def test_onnx_whose_card_lies_about_the_input(tmp_path):
    proto = onnx.load(str(DEFAULT_MODEL))
    for prop in proto.metadata_props:
        if prop.key == "model_card":
            card = json.loads(prop.value)
            card["input"]["name"] = "pixels"
            prop.value = json.dumps(card)
    path = tmp_path / "liar.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(ModelError, match="promises input 'pixels'"):
        Classifier(path)


def test_int8_model_loads_with_its_own_card():
    if not INT8_MODEL.exists():
        pytest.skip("no int8 model shipped (it did not qualify at export)")
    card = Classifier(INT8_MODEL).card
    assert card.precision == "int8"


def test_classifier_needs_neither_torch_nor_onnx():
    """The demo's runtime is onnxruntime + numpy: importing and predicting pulls in no torch."""
    code = (
        "import sys, numpy as np; from demo.classifier import Classifier; "
        "Classifier().predict(np.zeros((28, 28))); "
        "print(sorted(m for m in ('torch', 'onnx', 'train', 'export') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def recalibrated(tmp_path, calibration: dict):
    proto = onnx.load(str(DEFAULT_MODEL))
    for prop in proto.metadata_props:
        if prop.key == "model_card":
            prop.value = json.dumps(dict(json.loads(prop.value), calibration=calibration))
    path = tmp_path / "recalibrated.onnx"
    onnx.save(proto, str(path))
    return Classifier(path)


def test_the_cards_temperature_is_what_the_probabilities_use(tmp_path, digits):
    hot = recalibrated(tmp_path, {"temperature": 2.5, "sure_at": 0.5})
    images = digits[:8]
    hot, shipped = hot.predict(images), Classifier(DEFAULT_MODEL).predict(images)
    np.testing.assert_array_equal(hot.logits, shipped.logits)  # the network is the same
    np.testing.assert_allclose(hot.probabilities, softmax(hot.logits / 2.5), atol=1e-6)
    np.testing.assert_allclose(hot.row_probabilities, softmax(hot.row_logits / 2.5), atol=1e-6)
    assert hot.probabilities.max(1).mean() < shipped.probabilities.max(1).mean()


def outline_width(image: np.ndarray) -> float:
    """Stroke width as twice the ink's area over its outline (pixel edges times pi / 4)."""
    ink = np.pad(image > 127, 1)
    edges = (ink[1:] != ink[:-1]).sum() + (ink[:, 1:] != ink[:, :-1]).sum()
    return 2 * ink.sum() / (edges * np.pi / 4)


def test_strokes_wider_than_the_card_says_are_shown_less_sure(tmp_path, digits):
    card = {"temperature": 1.2, "sure_at": 0.5, "wide_from": 3.0, "wide_power": 1.5}
    warmed = recalibrated(tmp_path, card)
    fat = np.stack(
        [np.asarray(Image.fromarray(d).filter(ImageFilter.MaxFilter(5))) for d in digits]
    )
    for images in (digits, fat):
        prediction = warmed.predict(images)
        widths = np.array([outline_width(image) for image in images])
        expected = 1.2 * np.maximum(1.0, widths / 3.0) ** 1.5
        assert warmed.card.temperatures(images / np.float32(255)) == pytest.approx(expected)
        np.testing.assert_allclose(
            prediction.probabilities, softmax(prediction.logits / expected[:, None]), atol=1e-6
        )
        np.testing.assert_allclose(
            prediction.row_probabilities,
            softmax(prediction.row_logits / expected[:, None, None]),
            atol=1e-6,
        )
    assert (widths > 3.0).all()  # a 5x5 max filter fattens every digit past wide_from...
    thin = np.array([outline_width(image) for image in digits])
    assert (thin < 3.0).mean() > 0.5  # ...where most of MNIST's digits are left as they were
