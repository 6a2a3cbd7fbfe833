"""bench.numbers: numbers are composed as described, and every column counts what it says."""

import json

import numpy as np
import pytest

from bench import numbers, photos
from bench.paths import mnist_dir
from demo.reader import DEFAULT_MODEL
from train.pendigits import DEFAULT_FILE, FILE_NAME


class Always:
    """A reader that answers `label` for every plane it is given."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, planes):
        return [_Reading(self.label) for _ in planes]


class _Reading:
    def __init__(self, label):
        self.label, self.confidence, self.sure, self.runner_up = label, 0.9, True, "7"

    def record(self):
        return {"label": self.label}


def bar(height: int = 40) -> np.ndarray:
    """A '1': a vertical bar of ink, soft at its edges."""
    ink = np.zeros((height, 8), np.float32)
    ink[:, 2:6] = 1.0
    ink[:, 1] = ink[:, 6] = 0.4
    return ink


def test_compose_places_digits_left_to_right_with_their_true_boxes():
    rng = np.random.default_rng(0)
    plane, boxes = numbers.compose([bar(), bar(30), bar(50)], rng)
    assert plane.dtype == np.float32 and plane.min() >= 0.0 and plane.max() <= 1.0
    assert len(boxes) == 3
    soft = 10  # px: the gap is laid between whole drawings, their soft edges included
    for (x, _, w, _), (x_next, *_) in zip(boxes, boxes[1:], strict=False):
        gap = x_next - (x + w)
        assert numbers.GAP[0] * numbers.HEIGHT <= gap <= numbers.GAP[1] * numbers.HEIGHT + soft
    core = plane > 0.5
    for x, y, w, h in boxes:
        assert core[y : y + h, x : x + w].any(axis=0).all()
        assert numbers.SIZE[0] * numbers.HEIGHT - 2 <= h <= numbers.SIZE[1] * numbers.HEIGHT + 2
    assert core.sum() == sum(core[y : y + h, x : x + w].sum() for x, y, w, h in boxes)


def test_iou():
    assert numbers.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert numbers.iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert numbers.iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_numbers_come_from_one_pool_with_lengths_in_range():
    pools = [[(bar(), 1)], [(bar(), 7)]]
    made = numbers.numbers(pools, 50, np.random.default_rng(1))
    lengths = {len(digits) for digits in made}
    assert lengths <= set(range(numbers.LENGTHS[0], numbers.LENGTHS[1] + 1)) and len(lengths) > 2
    assert all(len({label for _, label in digits}) == 1 for digits in made)


def test_measure_counts_right_and_wrong_readers():
    made = numbers.numbers([[(bar(), 1)]], 20, np.random.default_rng(2))
    right = numbers.measure(Always("1"), made, np.random.default_rng(3), photo=False)
    assert right["n"] == 20 and right["count_right"] == 1.0 and right["boxes_right"] == 1.0
    assert right["number_right"] == right["alone_all_right"] == right["alone_product"] == 1.0
    wrong = numbers.measure(Always("7"), made, np.random.default_rng(3), photo=False)
    assert wrong["count_right"] == 1.0 and wrong["number_right"] == 0.0
    assert wrong["alone_digit_accuracy"] == wrong["alone_all_right"] == 0.0


def test_photos_of_a_number_fit_the_frame_and_leave_the_photo_module_as_it_was():
    before = photos.FRAMES, photos.DIGIT_HEIGHT
    plane, _ = numbers.compose([bar()] * 6, np.random.default_rng(4))
    picture = numbers.photos_of(plane, np.random.default_rng(5))
    assert picture[:2] == b"\xff\xd8"  # a JPEG
    assert before == (photos.FRAMES, photos.DIGIT_HEIGHT)
    ink = numbers.found_ink(picture)
    assert ink.ndim == 2 and ink.dtype == np.float32


@pytest.mark.slow
@pytest.mark.skipif(
    not (DEFAULT_MODEL.is_file() and (DEFAULT_FILE / FILE_NAME).is_file() and mnist_dir()),
    reason="needs the shipped model, pendigits and MNIST",
)
def test_the_command_writes_every_set(tmp_path):
    out = tmp_path / "numbers.json"
    args = ["--validation", "--count", "4", "--photo-count", "2", "--out", str(out)]
    assert numbers.main(args) == 0
    result = json.loads(out.read_text())
    assert result["split"] == "validation"
    assert set(result["sets"]) == {"pen_drawn", "pen_photo", "mnist_drawn", "mnist_photo"}
    assert result["sets"]["pen_drawn"]["n"] == 4 and result["sets"]["pen_photo"]["n"] == 2
