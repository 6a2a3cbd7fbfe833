"""train.pendigits and train.render: UNIPEN pen strokes are read exactly or refused with the
file and line; splits keep each writer whole; strokes are drawn as the page frames a drawing
(tall 1s stay thin, up is up, separate strokes stay separate, centre of mass in the middle)."""

import gzip
from dataclasses import replace

import numpy as np
import pytest
import torch

from train.data import DataError
from train.pendigits import (
    PenDigit,
    find_file,
    pack,
    read_pendigits,
    split_by_writer,
    writer_splits,
)
from train.render import RenderConfig, render

HEADER = [".INCLUDE pendigits.doc", ".DT 100", ""]


def unipen(*digits: tuple) -> str:
    """UNIPEN text for (label, writer, strokes) digits; strokes in tablet pixels, y up."""
    lines = list(HEADER)
    for number, (label, writer, strokes) in enumerate(digits):
        lines += [f'.SEGMENT DIGIT {number} ? "{label}"', f".COMMENT {label} {writer}  {number}"]
        for stroke in strokes:
            lines += [".PEN_DOWN", *(f" {x:4d} {y:4d}" for x, y in stroke), ".PEN_UP"]
    return "\n".join(lines) + "\n"


def write(tmp_path, text: str | bytes, name: str = "digits.tra"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("ascii"))
    return path


ONE = (1, 7, [[(250, 450), (250, 350), (250, 250), (250, 150), (250, 50)]])  # drawn downwards
SEVEN = (7, 12, [[(100, 400), (300, 400), (300, 400), (200, 100)], [(150, 250), (300, 250)]])


# --- reading ---------------------------------------------------------------------------


def test_reads_labels_writers_and_strokes_with_y_turned_to_screen(tmp_path):
    digits = read_pendigits(write(tmp_path, unipen(ONE, SEVEN)))
    assert [(d.label, d.writer, len(d.strokes)) for d in digits] == [(1, 7, 1), (7, 12, 2)]
    bar, cross = digits[1].strokes
    assert bar.dtype == np.float32 and bar.shape == (4, 2)
    np.testing.assert_array_equal(bar, [[100, 100], [300, 100], [300, 100], [200, 400]])
    np.testing.assert_array_equal(cross, [[150, 250], [300, 250]])


def test_a_stroke_drawn_upwards_on_the_tablet_goes_up_on_screen(tmp_path):
    upwards = (4, 3, [[(200, 50), (200, 450)]])  # tablet y grows upwards
    (digit,) = read_pendigits(write(tmp_path, unipen(upwards)))
    start, end = digit.strokes[0]
    assert end[1] < start[1]  # screen y grows downwards: the end is higher up
    assert (start[1], end[1]) == (450, 50)


def test_gzip_and_plain_files_read_alike(tmp_path):
    text = unipen(ONE, SEVEN)
    plain = read_pendigits(write(tmp_path, text))
    zipped = read_pendigits(write(tmp_path, gzip.compress(text.encode()), "digits.tra.gz"))
    assert [d.label for d in zipped] == [d.label for d in plain]
    for a, b in zip(plain, zipped, strict=True):
        for sa, sb in zip(a.strokes, b.strokes, strict=True):
            np.testing.assert_array_equal(sa, sb)


def test_find_file_takes_a_folder_or_a_file_and_names_what_is_missing(tmp_path):
    path = write(tmp_path, unipen(ONE), "pendigits-orig.tra.gz")
    assert find_file(tmp_path) == path
    assert find_file(path) == path
    with pytest.raises(DataError, match="no pendigits file at .*elsewhere"):
        find_file(tmp_path / "elsewhere")


def lines_with(*body: str) -> str:
    """A file whose first digit has `body` after its .SEGMENT line (line 4 of the file)."""
    return "\n".join([*HEADER, '.SEGMENT DIGIT 0 ? "3"', *body]) + "\n"


COMMENT = ".COMMENT 3 5 0"
MALFORMED = {  # name: (file text, line named in the error, what the error says)
    "point-outside-pen-down": (lines_with(COMMENT, " 10 10"), 6, "outside .PEN_DOWN"),
    "point-after-pen-up": (
        lines_with(COMMENT, ".PEN_DOWN", " 1 2", ".PEN_UP", " 3 4"),
        9,
        "outside .PEN_DOWN",
    ),
    "missing-label": ("\n".join([*HEADER, ".SEGMENT DIGIT 0 ?", COMMENT]), 4, "digit label"),
    "letter-label": ("\n".join([*HEADER, '.SEGMENT DIGIT 0 ? "a"']), 4, "digit label"),
    "non-integer-coordinates": (
        lines_with(COMMENT, ".PEN_DOWN", " 12.5 30", ".PEN_UP"),
        7,
        "two integers",
    ),
    "three-coordinates": (
        lines_with(COMMENT, ".PEN_DOWN", " 1 2 3", ".PEN_UP"),
        7,
        "two integers",
    ),
    "off-tablet-point": (lines_with(COMMENT, ".PEN_DOWN", " 600 10", ".PEN_UP"), 7, "off the"),
    "negative-point": (lines_with(COMMENT, ".PEN_DOWN", " 10 -1", ".PEN_UP"), 7, "off the"),
    "pen-up-without-pen-down": (lines_with(COMMENT, ".PEN_UP"), 6, "without .PEN_DOWN"),
    "pen-down-twice": (lines_with(COMMENT, ".PEN_DOWN", ".PEN_DOWN"), 7, "twice"),
    "stroke-without-points": (lines_with(COMMENT, ".PEN_DOWN", ".PEN_UP"), 7, "no points"),
    "bad-writer": (lines_with(".COMMENT 3 five 0"), 5, "writer"),
}


@pytest.mark.parametrize(("text", "line", "says"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_line_is_refused_naming_the_file_and_line(tmp_path, text, line, says):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=says) as caught:
        read_pendigits(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (lines_with(COMMENT) + unipen(ONE).split("\n", 3)[3], "no pen strokes"),  # empty digit
        (lines_with(COMMENT, ".PEN_DOWN", " 1 2"), "pen is still down"),
        (lines_with(".PEN_DOWN", " 1 2", ".PEN_UP"), "no .COMMENT"),
    ],
    ids=["empty-digit", "ends-pen-down", "no-writer"],
)
def test_an_unfinished_digit_is_refused_naming_the_file_and_a_line(tmp_path, text, says):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=f"^{path}:[0-9]+: .*{says}"):
        read_pendigits(path)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("\n".join(HEADER) + "\n", "no digits found"),
        (b"", "no digits found"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a UNIPEN text file"),
        (gzip.compress(unipen(ONE).encode())[:25], "broken gzip"),
    ],
    ids=["no-digits", "empty-file", "binary-garbage", "truncated-gzip"],
)
def test_a_file_that_is_not_pendigits_is_refused_naming_the_file(tmp_path, raw, says):
    path = write(tmp_path, raw)
    with pytest.raises(DataError, match=says) as caught:
        read_pendigits(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_gzip_with_corrupt_compressed_data_is_refused_naming_the_file(tmp_path):
    raw = bytearray(gzip.compress(unipen(ONE, SEVEN, ONE, SEVEN).encode()))
    raw[20:40] = bytes(b ^ 0xFF for b in raw[20:40])  # deflate blocks, not the gzip header
    with pytest.raises(DataError, match="broken gzip"):
        read_pendigits(write(tmp_path, bytes(raw)))


# --- packing ---------------------------------------------------------------------------


def test_pack_drops_points_where_the_resting_pen_repeated_itself():
    strokes = (np.array([[0, 0], [0, 0], [0, 0], [5, 5], [5, 5], [0, 0]], np.float32),)
    points, ids, labels = pack([PenDigit(2, 1, strokes)])
    kept = points[0][ids[0] >= 0]
    np.testing.assert_array_equal(kept, [[0, 0], [5, 5], [0, 0]])
    assert labels.tolist() == [2]


def test_pack_pads_with_stroke_id_minus_one_and_numbers_the_strokes():
    one = PenDigit(1, 1, (np.array([[0, 0], [0, 9]], np.float32),))
    seven = PenDigit(
        7,
        1,
        (np.array([[0, 0], [9, 0], [4, 9]], np.float32), np.array([[2, 4], [7, 4]], np.float32)),
    )
    points, ids, labels = pack([one, seven])
    assert points.shape == (2, 5, 2) and ids.shape == (2, 5)
    assert ids.tolist() == [[0, 0, -1, -1, -1], [0, 0, 0, 1, 1]]
    assert labels.tolist() == [1, 7]


def test_pack_thins_a_densely_sampled_digit_keeping_each_strokes_ends():
    line = np.stack([np.arange(200), np.arange(200) % 7], axis=1).astype(np.float32)
    points, ids, _ = pack([PenDigit(0, 1, (line,))], max_points=48)
    kept = points[0][ids[0] >= 0]
    assert len(kept) <= 48
    np.testing.assert_array_equal(kept[[0, -1]], line[[0, -1]])


# --- splits by writer ------------------------------------------------------------------


def many_writers(writers: int = 12, each: int = 5) -> list[PenDigit]:
    stroke = (np.array([[0, 0], [1, 1]], np.float32),)
    return [PenDigit(i % 10, w, stroke) for w in range(1, writers + 1) for i in range(each)]


def writers_of(digits) -> set[int]:
    return {digit.writer for digit in digits}


def test_split_by_writer_holds_out_whole_writers_and_loses_no_digit():
    digits = many_writers()
    kept, out, chosen = split_by_writer(digits, 3, seed=1)
    assert len(chosen) == 3 and writers_of(out) == set(chosen)
    assert writers_of(kept).isdisjoint(writers_of(out))
    assert len(kept) + len(out) == len(digits)
    assert sorted(map(id, kept + out)) == sorted(map(id, digits))


def test_split_by_writer_is_deterministic_and_seeded():
    digits = many_writers()
    assert split_by_writer(digits, 3, seed=1)[2] == split_by_writer(digits, 3, seed=1)[2]
    chosen = {tuple(split_by_writer(digits, 3, seed=s)[2]) for s in range(8)}
    assert len(chosen) > 1  # the seed picks the writers


@pytest.mark.parametrize("held_out", [-1, 12, 13])
def test_split_by_writer_refuses_to_hold_out_everyone(held_out):
    with pytest.raises(ValueError, match="cannot hold out"):
        split_by_writer(many_writers(), held_out, seed=1)


def test_writer_splits_are_disjoint_cover_everything_and_never_move():
    digits = many_writers(writers=30)
    train, validation, test = writer_splits(digits)
    assert (len(writers_of(validation)), len(writers_of(test))) == (4, 4)
    assert writers_of(train) | writers_of(validation) | writers_of(test) == writers_of(digits)
    assert writers_of(train).isdisjoint(writers_of(validation) | writers_of(test))
    assert writers_of(validation).isdisjoint(writers_of(test))
    assert len(train) + len(validation) + len(test) == len(digits)
    again = writer_splits(list(reversed(digits)))
    assert [writers_of(part) for part in again] == [
        writers_of(train),
        writers_of(validation),
        writers_of(test),
    ]


# --- rendering -------------------------------------------------------------------------


def batch(*digits: list[list[tuple[float, float]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Render inputs for digits given as lists of strokes in screen coordinates (y down)."""
    packed = [PenDigit(0, 1, tuple(np.array(s, np.float32) for s in strokes)) for strokes in digits]
    points, ids, _ = pack(packed)
    return torch.from_numpy(points), torch.from_numpy(ids)


def pen(*corners: tuple[float, float], step: float = 10.0) -> list[tuple[float, float]]:
    """A stroke through `corners` sampled every `step` units, as a tablet samples a moving pen."""
    points = [corners[0]]
    for (x0, y0), (x1, y1) in zip(corners[:-1], corners[1:], strict=True):
        count = max(1, int(np.hypot(x1 - x0, y1 - y0) // step))
        points += [
            (x0 + (x1 - x0) * k / count, y0 + (y1 - y0) * k / count) for k in range(1, count + 1)
        ]
    return points


VERTICAL_ONE = [pen((50, 10), (50, 370))]
TWO_BARS = [pen((0, 0), (0, 200)), pen((200, 0), (200, 200))]  # two strokes, far apart
SEVEN_SCREEN = [pen((0, 0), (150, 0), (60, 200))]  # bar at the top, y down
LOOP = [pen((50, 0), (100, 50), (50, 100), (0, 50), (50, 0))]


def ink_box(image: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    rows = np.flatnonzero((image > level).any(axis=1))
    cols = np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    grid = np.arange(image.shape[0])
    mass = image.sum()
    return (image.sum(axis=1) * grid).sum() / mass, (image.sum(axis=0) * grid).sum() / mass


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_a_plain_one_stays_tall_and_thin():
    (image,) = render(*batch(VERTICAL_ONE), None).numpy()
    height, width = ink_box(image)
    assert 19 <= height <= 22  # the 20-px digit box, plus anti-aliasing
    assert width <= 4


def test_a_one_stays_tall_and_thin_under_every_random_distortion():
    images = render(*batch(*[VERTICAL_ONE] * 64), seeded()).numpy()
    boxes = np.array([ink_box(image) for image in images])
    assert boxes[:, 0].min() >= 18
    assert (boxes[:, 0] >= 1.5 * boxes[:, 1]).all()


@pytest.mark.parametrize("generator", [None, 3], ids=["plain", "random"])
def test_up_stays_up_a_sevens_bar_is_drawn_at_the_top(generator):
    generator = None if generator is None else seeded(generator)
    images = render(*batch(*[SEVEN_SCREEN] * 16), generator).numpy()
    for image in images:
        rows = np.flatnonzero(image.max(axis=1) > 0.05)
        top, bottom = image[rows[:4]], image[rows[-4:]]
        assert (top > 0.5).sum() > 2 * (bottom > 0.5).sum()


def test_a_tablet_digit_read_from_file_keeps_its_top_at_the_top(tmp_path):
    seven = (7, 1, [[(100, 450), (300, 450), (180, 50)]])  # tablet: bar high up (y up)
    digit = read_pendigits(write(tmp_path, unipen(seven)))
    points, ids, _ = pack(digit)
    (image,) = render(torch.from_numpy(points), torch.from_numpy(ids), None).numpy()
    rows = np.flatnonzero(image.max(axis=1) > 0.05)
    assert (image[rows[:4]] > 0.5).sum() > 2 * (image[rows[-4:]] > 0.5).sum()


@pytest.mark.parametrize("generator", [None, 5], ids=["plain", "random"])
def test_pen_up_gaps_are_not_joined(generator):
    generator = None if generator is None else seeded(generator)
    images = render(*batch(*[TWO_BARS] * 16), generator).numpy()
    for image in images:
        columns = image.sum(axis=0)
        inked = np.flatnonzero(columns > 0.05)
        between = columns[inked[0] : inked[-1] + 1]
        assert between.min() < 0.05, "the two strokes are bridged"


@pytest.mark.parametrize("shape", [VERTICAL_ONE, TWO_BARS, SEVEN_SCREEN, LOOP])
@pytest.mark.parametrize("generator", [None, 7], ids=["plain", "random"])
def test_centre_of_mass_is_at_the_middle_and_ink_in_range(shape, generator):
    generator = None if generator is None else seeded(generator)
    images = render(*batch(*[shape] * 8), generator)
    assert images.shape == (8, 28, 28) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert images.amax((1, 2)).min() > 0.5  # real ink, not a faint smear
    for image in images.numpy():
        cy, cx = centre_of_mass(image)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_mixed_lengths_in_one_batch_render_as_they_would_alone():
    together = render(*batch(VERTICAL_ONE, LOOP, TWO_BARS), None)
    alone = torch.cat([render(*batch(shape), None) for shape in (VERTICAL_ONE, LOOP, TWO_BARS)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_the_same_seed_draws_the_same_pixels_and_another_seed_does_not():
    inputs = batch(*[SEVEN_SCREEN, LOOP] * 4)
    first, again = render(*inputs, seeded(11)), render(*inputs, seeded(11))
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    assert (render(*inputs, seeded(12)) - first).abs().max() > 0.1


def test_no_generator_draws_plainly_whatever_the_global_random_state():
    inputs = batch(SEVEN_SCREEN, LOOP)
    torch.manual_seed(1)
    first = render(*inputs, None)
    torch.manual_seed(2)
    torch.testing.assert_close(render(*inputs, None), first, atol=0, rtol=0)
    (image,) = render(*batch(VERTICAL_ONE), None).numpy()
    width = RenderConfig().plain_width  # the plain brush, no distortion
    assert abs(image.sum() / ink_box(image)[0] - width) < 0.6  # ink per row ~ the brush width


def test_sparse_sampling_keeps_the_corner_of_a_seven():
    # Keep no pen sample by chance: only each stroke's ends and its corners remain.
    sparse = RenderConfig(keep_range=(0.0, 0.0), rotate_degrees=0, shear=0, aspect=0, jitter=0)

    def bar_width(config: RenderConfig) -> int:
        (image,) = render(*batch(SEVEN_SCREEN), seeded(3), config).numpy()
        rows, cols = np.nonzero(image > 0.5)
        top = rows < rows.min() + 4
        return cols[top].max() - cols[top].min()

    assert bar_width(sparse) > 8  # the bar is drawn, not cut off to a diagonal
    # what dropping the corner would draw (no sample counts as a corner):
    assert bar_width(replace(sparse, sharp_turn=-1.0)) <= 8


def test_every_render_has_full_ink_where_the_pen_is_thickest():
    inputs = batch(*[SEVEN_SCREEN, LOOP, VERTICAL_ONE, TWO_BARS] * 8)
    thin = RenderConfig(width_range=(1.0, 1.4))
    peaks = render(*inputs, seeded(5), thin).amax((1, 2))
    torch.testing.assert_close(peaks, torch.ones_like(peaks))


# --- the real file ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_shared_pendigits_file_has_7494_digits_by_30_writers():
    try:
        path = find_file()
    except DataError:
        pytest.skip("../shared/data/pendigits is not beside this checkout")
    digits = read_pendigits(path)
    assert len(digits) == 7494
    assert len(writers_of(digits)) == 30
    counts = np.bincount([digit.label for digit in digits], minlength=10)
    assert counts.min() >= 719 and counts.max() <= 780
    train, validation, test = writer_splits(digits)
    assert (len(writers_of(validation)), len(writers_of(test))) == (4, 4)
    assert len(train) + len(validation) + len(test) == 7494
