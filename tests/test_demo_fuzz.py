"""Fuzz: whatever a user or a broken client sends, the demo answers with a message or a digit.

Over a thousand generated bad or odd inputs (seeded numpy generator, no hypothesis) go through
the demo's upload path: demo.photo's ink and the reader graph's 28x28 (tests.support.upload),
then demo.predict.read_digit (the same, as the CLI reports it). The only exception allowed out
of the first is PreprocessError; read_digit must never raise. Outputs must be MNIST-shaped,
finite, 0..255, and probabilities must sum to 1.
"""

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from demo.predict import read_digit
from demo.reader import DEFAULT_MODEL, PreprocessError, Reader
from tests.support.upload import to_mnist

SEED = 1234
DTYPES = [
    np.uint8, np.uint16, np.float32, np.float64,  # accepted
    np.int8, np.int16, np.int32, np.int64, np.float16, bool, np.complex64, object,  # refused
]  # fmt: skip
PIL_MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
             "LAB", "HSV", "I", "I;16", "I;16B", "F"]  # fmt: skip
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "PPM"]


@pytest.fixture(scope="module")
def classifier() -> Reader:
    if not DEFAULT_MODEL.is_file():
        pytest.skip(f"{DEFAULT_MODEL} is not built (python -m export)")
    return Reader(DEFAULT_MODEL)


def pixels(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """Random content of one of several kinds: blank, full, noise, a stroke, poison values."""
    kind = rng.integers(7)
    if dtype is object:
        return np.full(shape, None, dtype=object)
    dtype = np.dtype(dtype)
    top = 1 if dtype.kind == "b" else 255 if dtype.kind in "fc" else np.iinfo(dtype).max
    array = np.zeros(shape, dtype)
    if kind == 1:
        array[...] = top
    elif kind == 2:
        array[...] = (rng.random(shape) * top).astype(dtype)
    elif kind == 3 and len(shape) >= 2 and min(shape[:2]) > 2:  # a stroke on paper
        array[...] = top
        h, w = shape[:2]
        array[h // 4 : 3 * h // 4, w // 2 - max(1, w // 20) : w // 2 + max(1, w // 20)] = 0
    elif kind == 4 and dtype.kind == "f" and array.size:
        array[...] = rng.random(shape)
        array.flat[rng.integers(array.size, size=3)] = rng.choice([np.nan, np.inf, -np.inf])
    elif kind == 5 and dtype.kind == "f":
        with np.errstate(over="ignore"):  # 1e6 is inf in float16: poison all the same
            array[...] = rng.choice([-1.0, 1e6, 1e300 if dtype == np.float64 else 6e4, -0.0])
    elif kind == 6 and array.size:
        array.flat[rng.integers(array.size)] = top  # a single pixel
    return array


def random_shape(rng: np.random.Generator) -> tuple:
    ndim = int(rng.choice([0, 1, 2, 2, 3, 3, 3, 4]))
    sides = rng.choice([0, 1, 2, 3, 7, 28, 64, 200, 500], size=ndim)
    shape = [int(s) for s in sides]
    if ndim == 3:
        shape[2] = int(rng.integers(0, 7))
    return tuple(shape)


def encoded(rng: np.random.Generator) -> bytes:
    """An image file's bytes, sometimes intact, often truncated or with flipped bytes."""
    mode = str(rng.choice(["L", "RGB", "RGBA", "P", "1", "I;16"]))
    size = tuple(int(s) for s in rng.integers(1, 120, size=2))
    grey = pixels(rng, size[::-1], np.uint8)
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        image = Image.fromarray(grey).convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, str(rng.choice(FORMATS)))
    except (OSError, ValueError, KeyError):  # this format cannot hold this mode: use PNG
        image.convert("RGB").save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    damage = rng.integers(4)
    if damage == 1:
        data = data[: int(rng.integers(0, len(data)))]
    elif damage == 2 and data:
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 20))):
            data[position] = int(rng.integers(256))
    elif damage == 3:
        data = bytearray(rng.bytes(int(rng.integers(0, 4000))))
    return bytes(data)


def pil_image(rng: np.random.Generator) -> Image.Image:
    mode = str(rng.choice(PIL_MODES))
    size = tuple(int(s) for s in rng.choice([0, 1, 3, 28, 150], size=2))
    image = Image.new(mode, size)
    if size[0] and size[1]:
        base = Image.fromarray(pixels(rng, size[::-1], np.uint8))
        with contextlib.suppress(ValueError):  # modes Pillow cannot convert to stay blank
            image = base.convert(mode)
    return image


def cases(rng: np.random.Generator, tmp_path) -> Iterator[tuple[str, object]]:
    """(description, input) pairs: every kind of thing the app or CLI could be handed."""
    fixed = [None, {}, [], "", b"", 0, 3.5, object(), {"composite": None}, {"layers": 7},
             {"layers": [None, None]}, {"background": "nope.png"}, {"x": np.zeros((5, 5))},
             {"composite": {"composite": None}}, {"layers": np.zeros((5, 5, 4), np.uint8)},
             str(tmp_path), str(tmp_path / "missing.png"), tmp_path / "missing.png",
             "x" * 5000, "bad\0path", memoryview(b"\x89PNG\r\n\x1a\n"),
             bytearray(b"GIF89a")]  # fmt: skip
    for value in fixed:
        yield f"fixed {value!r:.60}", value
    for index in range(1100):
        kind = index % 6
        if kind in (0, 1):
            shape, dtype = random_shape(rng), DTYPES[int(rng.integers(len(DTYPES)))]
            array = pixels(rng, shape, dtype)
            if rng.random() < 0.2 and array.ndim >= 2:
                array = array[::-1, ::2]  # non-contiguous views
            yield f"array {shape} {np.dtype(dtype)}", array
        elif kind == 2:
            yield "pil image", pil_image(rng)
        elif kind == 3:
            data = encoded(rng)
            if rng.random() < 0.5:
                yield f"bytes ({len(data)})", data
            else:
                path = tmp_path / f"upload{index}.img"
                path.write_bytes(data)
                yield f"file ({len(data)} bytes)", str(path) if rng.random() < 0.5 else path
        else:
            side = int(rng.choice([1, 2, 28, 300]))
            layer = pixels(rng, (side, side, int(rng.integers(1, 5))), np.uint8)
            other = pixels(rng, (side + int(rng.integers(2)), side, 4), np.uint8)
            parts = [None, layer, other, Image.fromarray(layer[:, :, 0]), "missing.png"]
            chosen = [parts[int(i)] for i in rng.integers(len(parts), size=4)]
            layers = chosen[2 : 2 + int(rng.integers(0, 3))]
            value = {"background": chosen[0], "layers": layers, "composite": chosen[1]}
            for key in ("background", "layers", "composite"):
                if rng.random() < 0.2:
                    del value[key]
            yield "sketchpad dict", value


def check(description: str, image: object, classifier: Reader) -> str:
    """Run one input through the demo's path; return 'digit', 'empty' or 'message'."""
    try:
        digit = to_mnist(image)
    except PreprocessError as error:
        assert str(error) and "\n" not in str(error), description
        outcome = "message"
    except Exception as error:  # noqa: BLE001 - the point of the fuzz test
        pytest.fail(f"{description}: {type(error).__name__}: {error}")
    else:
        if digit is None:
            outcome = "empty"
        else:
            assert digit.shape == (28, 28) and digit.dtype == np.float32, description
            assert np.isfinite(digit).all() and digit.min() >= 0 and digit.max() <= 255.001
            outcome = "digit"
    try:
        record = read_digit(classifier, image)
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"{description}: read_digit raised {type(error).__name__}: {error}")
    if outcome == "digit" and "probabilities" in record:
        assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert record["label"] in classifier.card.class_names
    elif outcome == "digit" and "number" in record:  # noise cut into several digit-sized marks
        assert len(record["number"]) == len(record["digits"]) >= 2, description
    elif outcome == "digit":  # too many marks or touching ones for a number: one sentence
        assert str(record["error"]) and "\n" not in record["error"], description
        assert set(record) <= {"error", "touching"}, description
    else:  # no digit on the one-digit road; the all-pieces ink may still hold touching marks
        assert set(record) in ({"error"}, {"error", "touching"}), description
    return outcome


def test_a_thousand_bad_inputs_give_a_message_or_a_digit(classifier, tmp_path):
    rng = np.random.default_rng(SEED)
    outcomes = [check(d, image, classifier) for d, image in cases(rng, tmp_path)]
    assert len(outcomes) >= 1000
    counts = {kind: outcomes.count(kind) for kind in ("digit", "empty", "message")}
    assert min(counts.values()) >= 50, counts  # the generator reaches all three outcomes


@pytest.mark.slow
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_8000_pixel_arrays_are_handled(classifier, channels):
    rng = np.random.default_rng(channels)
    for content in ("all ink", "stroke", "noise"):
        big = np.zeros((8000, 8000, channels), np.uint8)
        if content == "stroke":
            big[...] = 255
            big[2000:6000, 3900:4100] = 0
        elif content == "noise":
            big[...] = rng.integers(0, 256, size=(8000, 1, 1), dtype=np.uint8)
        check(f"8000x8000x{channels} {content}", big, classifier)
    big16 = np.full((8000, 8000), 65535, np.uint16)
    big16[1000:7000, 3000:3600] = 0
    assert check("8000x8000 uint16 stroke", big16, classifier) == "digit"
