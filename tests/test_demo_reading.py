"""A picture with several digits is a number for the CLI and the API; one digit is read as it
always was. Photo cleaning keeps every digit-sized piece for a number (keep="all") without
changing what a single digit's read keeps."""

import json

import numpy as np
import pytest
from PIL import Image

from bench.paths import SAMPLE
from demo.photo import photo_ink, photo_inks
from demo.predict import main
from demo.reader import DEFAULT_MODEL, NumberReading, Reader, Reading
from demo.reading import MIN_HEIGHT, is_number, read_picture

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="run python -m export first")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLE) as data:
        return data["images"][:8], data["labels"][:8].astype(int)


def compose(images: np.ndarray, gap: int = 6, scale: int = 4) -> np.ndarray:
    """MNIST digits side by side, dark ink on white paper, as a scan of a written number."""
    row = np.concatenate(
        [np.pad(255 - x, ((10, 10), (gap, gap)), constant_values=255) for x in images], 1
    )
    return np.asarray(Image.fromarray(row).resize((row.shape[1] * scale, row.shape[0] * scale)))


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(DEFAULT_MODEL)


def test_keep_all_keeps_every_digit_and_keep_digit_only_the_heaviest(digits):
    picture = compose(digits[0][[0, 1]], gap=40)  # a 7 and a 2, far apart
    one, every = photo_ink(picture), photo_ink(picture, keep="all")
    half = every.shape[1] // 2
    assert every[:, :half].max() > 0.5 and every[:, half:].max() > 0.5  # both digits
    assert min(one[:, :half].max(), one[:, half:].max()) < 0.5  # only one of them
    assert all(np.array_equal(a, b) for a, b in zip(photo_inks(picture), (one, every), strict=True))


def test_keep_all_does_not_change_a_single_digits_read(digits, reader):
    picture = compose(digits[0][:1])
    alone = reader.read(photo_ink(picture))
    found = read_picture(reader, picture)
    assert isinstance(found, Reading) and found.record() == alone.record()


def test_an_unknown_keep_is_refused():
    with pytest.raises(ValueError, match="keep"):
        photo_ink(np.zeros((8, 8), np.uint8), keep="some")


def test_several_digits_are_a_number_read_left_to_right(digits, reader):
    images, labels = digits
    found = read_picture(reader, compose(images[:5]))
    assert isinstance(found, NumberReading)
    assert found.text == "".join(map(str, labels[:5]))
    boxes = [box for _, box in found.digits]
    assert boxes == sorted(boxes)  # left to right


def test_the_cli_prints_a_number_without_a_flag(digits, tmp_path, capsys):
    images, labels = digits
    number, single = tmp_path / "number.png", tmp_path / "single.png"
    Image.fromarray(compose(images[:4])).save(number)
    Image.fromarray(compose(images[4:5])).save(single)
    assert main([str(number), str(single)]) == 0
    many, one = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert many["file"] == str(number) and many["number"] == "".join(map(str, labels[:4]))
    assert set(many) == {"file", "number", "confidence", "sure", "digits"}
    for digit in many["digits"]:
        assert set(digit) == {"label", "confidence", "sure", "runner_up", "box"}
        assert len(digit["box"]) == 4
    assert set(one) == {"file", "label", "confidence", "sure", "probabilities"}
    assert one["label"] == str(labels[4])


def test_two_digits_of_a_digits_height_make_a_number_a_fragment_does_not():
    assert is_number([100, 90]) and is_number([100, 50, 80])
    assert not is_number([100]) and not is_number([100, 49]) and not is_number([])
    assert not is_number([1, 1]) and is_number([MIN_HEIGHT, MIN_HEIGHT])  # dots are no digits


def test_one_digit_beside_a_short_stray_mark_is_read_as_one_digit(digits, reader):
    picture = compose(digits[0][:1])
    stray = np.pad(picture, ((0, 0), (0, 300)), constant_values=255)
    stray[80:92, -60:-20] = 0  # a short dash far to the right: not a digit's height
    found = read_picture(reader, stray)
    assert isinstance(found, Reading) and found.label == str(digits[1][0])
