"""demo.numbers: how an ink plane is cut into digits, and the answer a number gets.

The segmentation is specified on hand-drawn shapes (thick polylines on a plane), so each rule
has its own picture: the strokes of one digit stay together, neighbours part, touching digits
are flagged, specks go, boxes are in the input's pixels, and bad input is one sentence.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from demo.numbers import (
    MAX_DIGITS,
    TOO_MANY,
    NumberError,
    read_number,
    segment,
)
from demo.reader import DEFAULT_MODEL, TOUCHING, Reader


def stroke(plane: np.ndarray, points: list[tuple[float, float]], width: float = 6.0) -> None:
    """A round-ended polyline of ink (x, y points) drawn into `plane` in place."""
    ys, xs = np.mgrid[: plane.shape[0], : plane.shape[1]]
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        distance = np.hypot(xs - x0 - t * dx, ys - y0 - t * dy)
        np.maximum(plane, np.clip(width / 2 + 0.5 - distance, 0, 1), out=plane)


def four(plane, x=0, y=0, crossing=True):
    stroke(plane, [(x + 20, y + 10), (x + 20, y + 60), (x + 85, y + 60)])  # the L
    if crossing:
        stroke(plane, [(x + 65, y + 25), (x + 65, y + 105)])
    else:  # the stem drawn under the bar, not touching it
        stroke(plane, [(x + 65, y + 70), (x + 65, y + 105)])


def two(plane, x=0, y=0):
    stroke(plane, [(x + 15, y + 30), (x + 40, y + 10), (x + 65, y + 30), (x + 15, y + 100)])
    stroke(plane, [(x + 15, y + 100), (x + 75, y + 100)])


def one(plane, x=0, y=0):
    stroke(plane, [(x + 30, y + 10), (x + 30, y + 100)])


def ring(plane, cx, cy, radius=40):
    angles = np.linspace(0, 2 * np.pi, 40)
    stroke(plane, [(cx + radius * 0.8 * np.cos(a), cy + radius * np.sin(a)) for a in angles])


def boxes(plane):
    return [digit.box for digit in segment(plane).digits]


def test_blank_and_empty_planes_have_no_digits():
    assert segment(np.zeros((120, 300), np.float32)).digits == []
    assert segment(np.zeros((0, 0), np.float32)).digits == []
    faint = np.full((50, 50), 0.3, np.float32)  # soft edges alone are no ink
    assert segment(faint).digits == []


def test_a_single_digit_is_one_group():
    plane = np.zeros((120, 100), np.float32)
    two(plane)
    found = segment(plane)
    assert len(found.digits) == 1 and not found.touching


@pytest.mark.parametrize("crossing", [True, False])
def test_the_two_strokes_of_a_four_stay_one_digit(crossing):
    plane = np.zeros((120, 110), np.float32)
    four(plane, crossing=crossing)
    assert len(segment(plane).digits) == 1


def test_a_sevens_crossbar_stays_with_it():
    plane = np.zeros((120, 110), np.float32)
    stroke(plane, [(10, 10), (80, 10), (35, 100)])
    stroke(plane, [(63, 55), (90, 55)])  # not touching the diagonal
    assert len(segment(plane).digits) == 1


def test_a_one_with_a_separate_mark_above_stays_one_digit():
    plane = np.zeros((130, 60), np.float32)
    stroke(plane, [(30, 40), (30, 120)])
    stroke(plane, [(24, 16), (36, 16)])  # an i-like mark over the stem
    assert len(segment(plane).digits) == 1


def test_forty_two_splits_in_two_left_to_right():
    plane = np.zeros((120, 220), np.float32)
    two(plane, x=110)
    four(plane)
    found = segment(plane).digits
    assert len(found) == 2
    assert found[0].box[0] < found[1].box[0] < found[0].box[0] + 120


def test_order_is_left_to_right_not_top_to_bottom():
    plane = np.zeros((200, 330), np.float32)
    one(plane, x=0, y=80)  # lowest first from the left
    two(plane, x=100, y=40)
    four(plane, x=210, y=0)  # highest, rightmost: first in raster order
    xs = [box[0] for box in boxes(plane)]
    assert len(xs) == 3 and xs == sorted(xs)


@pytest.mark.parametrize("scale", [1, 5])
def test_boxes_are_in_the_inputs_pixels(scale):
    plane = np.zeros((120 * scale, 300 * scale), np.float32)
    plane[20 * scale : 100 * scale, 40 * scale : 52 * scale] = 1.0
    plane[30 * scale : 110 * scale, 150 * scale : 190 * scale] = 1.0
    assert boxes(plane) == [
        (40 * scale, 20 * scale, 12 * scale, 80 * scale),
        (150 * scale, 30 * scale, 40 * scale, 80 * scale),
    ]


def test_each_plane_holds_its_digits_ink_only_with_a_margin():
    plane = np.zeros((120, 220), np.float32)
    four(plane)
    two(plane, x=110)
    first, second = segment(plane).digits
    x, y, w, h = first.box
    assert first.plane.dtype == np.float32 and first.plane.max() == 1.0
    margin = (first.plane.shape[0] - h) // 2
    assert margin >= 1 and first.plane.shape == (h + 2 * margin, w + 2 * margin)
    assert (first.plane > 0.5).sum() == (plane[:, :105] > 0.5).sum()  # the 4 alone
    assert (second.plane > 0.5).sum() == (plane[:, 105:] > 0.5).sum()


def test_specks_far_from_the_digits_are_dropped():
    plane = np.zeros((160, 300), np.float32)
    four(plane)
    two(plane, x=120)
    plane[150:153, 280:283] = 1.0
    plane[2:4, 150:152] = 1.0
    assert len(segment(plane).digits) == 2


def touching_zeros(plane, x=0):
    """ "000" written with each 0 touching the next."""
    for k in range(3):
        ring(plane, x + 50 + 62 * k, 60)


def test_digits_that_touch_are_flagged_not_guessed():
    plane = np.zeros((120, 250), np.float32)
    touching_zeros(plane)
    found = segment(plane)
    assert len(found.digits) == 1 and found.touching


def test_a_digit_near_a_touching_pair_is_not_flagged():
    plane = np.zeros((120, 350), np.float32)
    touching_zeros(plane)
    one(plane, x=260)
    flags = [digit.touching for digit in segment(plane).digits]
    assert flags == [True, False]


@pytest.mark.timeout(60)  # a hang guard: the work is bounded, the time is benchmarked elsewhere
@pytest.mark.parametrize("pattern", ["dots", "noise", "sparse_noise", "many_marks"])
def test_too_many_pieces_is_one_sentence(pattern):
    rng = np.random.default_rng(0)
    plane = np.zeros((2000, 2000), np.float32)
    if pattern == "dots":
        plane[::20, ::20] = 1.0
    elif pattern == "noise":
        plane = rng.random((2000, 2000)).astype(np.float32)
    elif pattern == "sparse_noise":
        plane = (rng.random((2000, 2000)) < 0.02).astype(np.float32)
    else:  # 20 strokes, each a digit-sized bar: more digits than a number holds
        plane = np.zeros((120, 20 * 40), np.float32)
        for k in range(MAX_DIGITS + 8):
            plane[10:110, 40 * k + 10 : 40 * k + 20] = 1.0
    with pytest.raises(NumberError, match="^" + TOO_MANY[:30]):
        segment(plane)


@pytest.mark.parametrize(
    ("ink", "words"),
    [
        (np.zeros((4, 4, 3), np.float32), "2-D"),
        (np.zeros(10, np.float32), "2-D"),
        (np.array([[np.nan, 0.0]], np.float32), "not numbers"),
        (np.array([[np.inf, 0.0]]), "not numbers"),
        (np.array([[2.0, 0.0]]), "between 0"),
        (np.array([[-0.5, 0.0]]), "between 0"),
        (np.array([["a"]]), "numeric array"),
        ([[0.0, 1.0]], "numeric array"),
        (None, "numeric array"),
    ],
)
def test_bad_input_is_one_clear_sentence(ink, words):
    with pytest.raises(NumberError, match=words) as raised:
        segment(ink)
    message = str(raised.value)
    assert message.endswith(".") and "\n" not in message
    with pytest.raises(NumberError):
        read_number(lambda planes: [], ink)


def test_boolean_and_integer_planes_are_ink_too():
    plane = np.zeros((120, 100), bool)
    plane[10:100, 40:50] = True
    assert len(segment(plane).digits) == 1
    assert len(segment(plane.astype(np.uint8)).digits) == 1


@dataclass
class Stub:
    """A reader's answer for one digit, as demo.reader.Reading gives it."""

    label: str
    confidence: float = 0.9
    sure: bool = True
    runner_up: str = "7"

    def record(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "sure": self.sure,
                "probabilities": {self.label: self.confidence}}  # fmt: skip


class StubReader:
    """Reads planes as the labels it is given, left to right, and remembers its calls."""

    def __init__(self, labels: str, sure: bool = True):
        self.labels, self.sure, self.calls = labels, sure, []

    def __call__(self, planes):
        self.calls.append(planes)
        return [Stub(label, 0.9, self.sure) for label in self.labels[: len(planes)]]


def forty_two() -> np.ndarray:
    plane = np.zeros((120, 220), np.float32)
    four(plane)
    two(plane, x=110)
    return plane


def test_a_number_is_read_in_one_batch_and_answered_with_its_digits():
    reader = StubReader("42")
    reading = read_number(reader, forty_two())
    assert len(reader.calls) == 1 and len(reader.calls[0]) == 2
    assert reading.text == "42"
    record = reading.record()
    assert set(record) == {"number", "confidence", "sure", "digits"}
    assert record["number"] == "42" and record["sure"] is True
    assert record["confidence"] == pytest.approx(0.81)
    assert [set(d) for d in record["digits"]] == [
        {"label", "confidence", "sure", "runner_up", "box"}
    ] * 2
    assert [d["label"] for d in record["digits"]] == ["4", "2"]
    assert record["digits"][0]["box"] == list(segment(forty_two()).digits[0].box)


def test_one_unsure_digit_makes_the_number_unsure():
    assert read_number(StubReader("42", sure=False), forty_two()).record()["sure"] is False


def test_a_single_digit_is_answered_exactly_as_before():
    plane = np.zeros((120, 100), np.float32)
    two(plane)
    reading = read_number(StubReader("2"), plane)
    assert reading.text == "2"
    assert reading.record() == Stub("2").record()


def test_touching_digits_are_answered_with_a_sentence_and_nothing_is_read():
    plane = np.zeros((120, 250), np.float32)
    touching_zeros(plane)
    reader = StubReader("000")
    reading = read_number(reader, plane)
    assert reader.calls == [] and reading.text == ""
    record = reading.record()
    assert record["error"] == TOUCHING and len(record["touching"]) == 1


def test_a_blank_plane_reads_as_nothing():
    reader = StubReader("")
    assert read_number(reader, np.zeros((50, 50), np.float32)).record() is None
    assert reader.calls == []


def test_a_plane_the_reader_finds_nothing_in_is_left_out():
    reading = read_number(lambda planes: [None, Stub("2")], forty_two())
    assert reading.text == "2" and reading.record() == Stub("2").record()


def test_a_reader_that_loses_digits_is_an_error():
    with pytest.raises(ValueError, match="readings"):
        read_number(lambda planes: [Stub("4")], forty_two())


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="run python -m export first")
def test_shipped_reader_reads_the_number_as_it_reads_each_digit():
    read_batch = Reader(DEFAULT_MODEL).read_each
    plane = forty_two()
    alone = read_batch([digit.plane for digit in segment(plane).digits])
    reading = read_number(read_batch, plane)
    assert reading.text == "".join(r.label for r in alone) and len(reading.text) == 2
    assert set(reading.record()) == {"number", "confidence", "sure", "digits"}
