"""The upload path: demo.photo's ink plane, then the reader graph's 28x28.

Spec: MNIST's own recipe (ink found whatever the polarity or alpha, cropped, longer side =
digit_box, centre of mass at the centre), None for "nothing drawn", PreprocessError (one
sentence) for anything unusable, never another exception. Photos and scans:
tests/test_demo_photos.py; stroke evening: tests/test_export_reference.py.
"""

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from bench.evaluate_preprocessing import draw_on_canvas
from bench.paths import SAMPLE
from demo.reader import PreprocessError
from tests.support.upload import to_mnist


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    with np.load(SAMPLE) as sample:
        return sample["images"]


@pytest.fixture(scope="module")
def drawn_seven(mnist) -> np.ndarray:
    """MNIST test digit 0 (a 7) as a sketchpad composite: uint8 RGB, black on white 400x400."""
    return draw_on_canvas(mnist[0], np.random.default_rng(0))


def ring(size: int = 400, thickness: float = 0.08, centre=(200, 200), radius=120) -> np.ndarray:
    """A "0": a ring of ink (1.0) on paper (0.0), float in 0..1."""
    ys, xs = np.mgrid[:size, :size]
    distance = np.hypot(ys - centre[0], (xs - centre[1]) * 1.4)
    return (np.abs(distance - radius) < thickness * size / 2).astype(np.float64)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(image * ys).sum(), (image * xs).sum()]) / image.sum()


def bbox_sides(image: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    rows, cols = np.flatnonzero((image > level).any(1)), np.flatnonzero((image > level).any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


# ---- the MNIST recipe ---------------------------------------------------------------------


def test_output_is_mnist_style(drawn_seven):
    digit = to_mnist(drawn_seven)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() == 0.0 and digit.max() == pytest.approx(255.0)
    assert digit[:, :2].max() == 0 and digit[:2].max() == 0  # white ink on a black field
    assert max(bbox_sides(digit)) in (20, 21)  # longer side scaled to digit_box (+ soft edge)


def test_position_and_size_on_the_canvas_do_not_matter(mnist):
    rng = np.random.default_rng(1)
    for digit in mnist[:40]:
        out = to_mnist(draw_on_canvas(digit, rng))
        # MNIST's own centre is (14, 14); the graph centres the mass at 4x, then resamples
        assert np.abs(centre_of_mass(out) - 14.0).max() <= 0.55
        assert 19 <= max(bbox_sides(out, level=10)) <= 21


def best_shifted_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pixel correlation allowing a 1-px shift (centring rounds differently from MNIST's)."""
    b = b.astype(np.float64)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return max(np.corrcoef(np.roll(a, s, (0, 1)).ravel(), b.ravel())[0, 1] for s in shifts)


def test_an_mnist_digit_comes_back_nearly_unchanged(mnist):
    correlations = [best_shifted_correlation(to_mnist(digit), digit) for digit in mnist[:100]]
    assert np.median(correlations) > 0.95
    assert np.percentile(correlations, 10) > 0.85


def test_polarity_is_found_both_ways(drawn_seven):
    dark_on_light = to_mnist(drawn_seven)
    light_on_dark = to_mnist(255 - drawn_seven)
    np.testing.assert_allclose(light_on_dark, dark_on_light, atol=2.0)


def test_grey_paper_and_coloured_ink_still_read(drawn_seven):
    ink = (255 - drawn_seven[:, :, 0]).astype(np.float64) / 255
    photo = np.stack([190 - 150 * ink, 180 - 60 * ink, 170 - 160 * ink], axis=2)
    out = to_mnist(photo.astype(np.uint8))
    np.testing.assert_allclose(out, to_mnist(drawn_seven), atol=40)
    assert np.corrcoef(out.ravel(), to_mnist(drawn_seven).ravel())[0, 1] > 0.97


@pytest.mark.parametrize(
    "convert",
    [
        lambda rgb: rgb[:, :, 0],  # H x W grey
        lambda rgb: rgb[:, :, :1],  # H x W x 1
        lambda rgb: np.dstack([rgb[:, :, 0], np.full(rgb.shape[:2], 255, np.uint8)]),  # LA
        lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),  # opaque RGBA
        lambda rgb: rgb.astype(np.uint16) * 257,  # 16-bit
        lambda rgb: rgb.astype(np.float32) / 255,  # float 0..1
        lambda rgb: rgb.astype(np.float64),  # float 0..255
        lambda rgb: Image.fromarray(rgb),  # PIL RGB
        lambda rgb: Image.fromarray(rgb).convert("P"),  # palette
        lambda rgb: Image.fromarray(rgb[:, :, 0]).convert("1"),  # 1-bit
        lambda rgb: Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257),  # PIL I;16
        lambda rgb: png_bytes(Image.fromarray(rgb)),  # encoded file bytes
        lambda rgb: png_bytes(Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)),
        lambda rgb: png_bytes(Image.fromarray(rgb), "JPEG"),
    ],
)
def test_every_pixel_format_gives_the_same_digit(drawn_seven, convert):
    reference = to_mnist(drawn_seven)
    out = to_mnist(convert(drawn_seven))
    assert np.abs(out - reference).mean() < 6  # 1-bit and JPEG lose a little anti-aliasing


def test_files_on_disk_are_read(drawn_seven, tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(drawn_seven).save(path)
    np.testing.assert_allclose(to_mnist(path), to_mnist(drawn_seven), atol=1e-3)
    np.testing.assert_allclose(to_mnist(str(path)), to_mnist(drawn_seven), atol=1e-3)


# ---- layers, alpha and the Gradio sketchpad value ----------------------------------------


def alpha_layer(drawn: np.ndarray, colour: int = 0) -> np.ndarray:
    """A sketchpad layer: transparent, ink only in the alpha channel (colour of ink arbitrary)."""
    layer = np.zeros(drawn.shape[:2] + (4,), np.uint8)
    layer[:, :, :3] = colour
    layer[:, :, 3] = 255 - drawn[:, :, 0]
    return layer


@pytest.mark.parametrize("colour", [0, 255, 128])
def test_transparent_layers_carry_ink_in_alpha(drawn_seven, colour):
    out = to_mnist(alpha_layer(drawn_seven, colour))
    np.testing.assert_allclose(out, to_mnist(drawn_seven), atol=2.0)


def test_sketchpad_values(drawn_seven):
    reference = to_mnist(drawn_seven)
    white = np.full_like(drawn_seven, 255)
    layer = alpha_layer(drawn_seven)
    composite = np.dstack([drawn_seven, np.full(drawn_seven.shape[:2], 255, np.uint8)])
    full = {"background": white, "layers": [layer], "composite": composite}
    np.testing.assert_allclose(to_mnist(full), reference, atol=2.0)
    only_layers = {"background": None, "layers": [None, layer], "composite": None}
    np.testing.assert_allclose(to_mnist(only_layers), reference, atol=2.0)
    pil_values = {"background": None, "layers": [], "composite": Image.fromarray(composite)}
    np.testing.assert_allclose(to_mnist(pil_values), reference, atol=2.0)
    only_background = {"background": drawn_seven, "layers": [], "composite": None}
    np.testing.assert_allclose(to_mnist(only_background), reference, atol=2.0)


def test_two_layers_are_combined(drawn_seven):
    layer = alpha_layer(drawn_seven)
    left, right = layer.copy(), layer.copy()
    left[:, 200:, 3] = 0
    right[:, :200, 3] = 0
    value = {"background": None, "layers": [left, right], "composite": None}
    np.testing.assert_allclose(to_mnist(value), to_mnist(drawn_seven), atol=2.0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        {},
        {"background": None, "layers": [], "composite": None},
        {"background": None, "layers": None, "composite": None},
        {"background": None, "layers": [None], "composite": None},
        {"composite": np.full((800, 800, 4), 255, np.uint8), "layers": [], "background": None},
        {"layers": [np.zeros((800, 800, 4), np.uint8)], "composite": None},
    ],
)
def test_an_empty_sketchpad_is_none(value):
    assert to_mnist(value) is None


def test_a_dict_that_is_not_a_sketchpad_value_is_an_error():
    with pytest.raises(PreprocessError, match="sketchpad"):
        to_mnist({"image": np.zeros((28, 28), np.uint8)})
    with pytest.raises(PreprocessError):
        to_mnist({"layers": "not a list", "composite": None})


def test_a_canvas_covered_in_ink_is_an_error_not_a_guess():
    black = np.zeros((800, 800, 4), np.uint8)
    black[:, :, 3] = 255
    with pytest.raises(PreprocessError, match="mostly ink"):
        to_mnist({"background": None, "layers": [], "composite": black})


# ---- strokes, specks and noise ------------------------------------------------------------


def test_specks_and_faint_noise_are_ignored(drawn_seven):
    rng = np.random.default_rng(3)
    dirty = drawn_seven.astype(np.float64) + rng.normal(0, 8, drawn_seven.shape)
    for y, x in [(10, 10), (380, 20), (20, 380), (390, 390)]:
        dirty[y : y + 4, x : x + 4] = 0  # dust: tiny isolated dots far from the digit
    out = to_mnist(dirty.clip(0, 255).astype(np.uint8))
    assert np.abs(out - to_mnist(drawn_seven)).mean() < 3


def test_a_digit_in_two_strokes_keeps_both():
    one = np.full((400, 400), 255, np.uint8)
    one[100:300, 195:215] = 0  # the stem of a "4"-like figure
    one[180:195, 120:180] = 0  # a separate crossbar, not touching
    out = to_mnist(one)
    assert max(bbox_sides(out, level=10)) == 20
    assert bbox_sides(out, level=10)[1] >= 8  # the bar survived: the stem alone is ~2 px


# ---- "nothing to read" and unusable inputs ------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        np.full((800, 800, 3), 255, np.uint8),
        np.zeros((28, 28), np.uint8),
        np.full((100, 100), 0.5),
        np.zeros((64, 64, 4), np.uint8),  # fully transparent
        np.zeros((1, 1), np.uint8),
        np.full((1, 1, 3), 255, np.uint8),
        np.zeros((1, 500), np.float32),
    ],
)
def test_blank_images_are_none(image):
    assert to_mnist(image) is None


def test_a_single_dot_is_none_not_a_digit():
    canvas = np.full((800, 800, 3), 255, np.uint8)
    ys, xs = np.mgrid[:800, :800]
    canvas[np.hypot(ys - 300, xs - 500) < 12] = 0  # one tap of the brush
    assert to_mnist(canvas) is None


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0), np.uint8), "no pixels"),
        (np.zeros((0, 5, 3), np.uint8), "no pixels"),
        (np.zeros((20, 20), bool), "pixel type"),
        (np.zeros((20, 20), np.int64), "pixel type"),
        (np.zeros((20, 20), np.float16), "pixel type"),
        (np.zeros((20, 20), np.complex64), "pixel type"),
        (np.zeros((20, 20), object), "pixel type"),
        (np.zeros((20, 20, 5), np.uint8), "channels"),
        (np.zeros((2, 20, 20, 3), np.uint8), "channels"),
        (np.zeros(20, np.uint8), "channels"),
        (np.full((20, 20), np.nan), "NaN"),
        (np.where(np.eye(20) > 0, np.inf, 0.0), "NaN"),
        (np.full((20, 20), -1.0), "0..1 or 0..255"),
        (np.full((20, 20), 300.0), "0..1 or 0..255"),
        ([[0, 255], [255, 0]], "list"),
        (42, "int"),
        (b"not an image at all", "not an image"),
        (b"", "not an image"),
        ("/definitely/not/here.png", "No image file"),
    ],
)
def test_unusable_inputs_raise_one_clear_sentence(image, message):
    with pytest.raises(PreprocessError, match=message) as caught:
        to_mnist(image)
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)


def test_truncated_files_are_an_error(drawn_seven):
    data = png_bytes(Image.fromarray(drawn_seven))
    for cut in (8, 40, len(data) // 3, len(data) // 2):
        with pytest.raises(PreprocessError):
            to_mnist(data[:cut])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but carries no pixel data: a bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13_000, 30_000, 2**31 - 1])
def test_decompression_bombs_are_refused_before_decoding(side):
    with pytest.raises(PreprocessError, match="pixels"):
        to_mnist(png_header_only(side, side))


def test_a_huge_array_is_shrunk_early(mnist):
    big = np.full((6000, 7000), 255, np.uint8)
    seven = np.asarray(Image.fromarray(255 - mnist[0]).resize((2800, 2800)))
    big[1000:3800, 2000:4800] = seven
    out = to_mnist(big)
    assert np.corrcoef(out.ravel(), to_mnist(mnist[0]).ravel())[0, 1] > 0.9


@pytest.mark.slow
def test_a_7000_pixel_square_upload_is_read(mnist, tmp_path):
    canvas = Image.new("L", (7_000, 7_000), 255)  # 49 MP: under demo.pixels' 50 MP cap
    canvas.paste(Image.fromarray(255 - mnist[0]).resize((2800, 2800)), (2100, 2100))
    path = tmp_path / "huge.png"
    canvas.save(path, compress_level=1)
    out = to_mnist(path)
    assert np.corrcoef(out.ravel(), to_mnist(mnist[0]).ravel())[0, 1] > 0.9


def test_the_demo_runtime_imports_neither_torch_nor_sklearn():
    code = (
        "import sys, demo.photo, demo.predict, demo.app; "
        "bad = {'torch', 'sklearn', 'train', 'export'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
