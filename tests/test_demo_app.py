"""The page's handlers: every input a user or a client can send ends in a result or a
one-sentence status line, never an exception (the page must not show a traceback)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from demo import app
from demo.plots import ROW_PX, belief_heatmap, colour_ramp, seen_image


@pytest.fixture(scope="module")
def models() -> app.Models:
    return app.Models.load()


def _is_message(result: tuple) -> bool:
    label, seen, belief, status = result
    return label is None and seen is None and belief is None and isinstance(status, str)


def _ink_png(draw_fn, size: int = 280) -> bytes:
    """What the page sends: black ink in the alpha channel of a transparent canvas."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw_fn(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _one(draw: ImageDraw.ImageDraw) -> None:
    draw.line([(140, 40), (135, 240)], fill=(0, 0, 0, 255), width=24)


def test_a_drawn_stroke_gives_top3_seen_image_and_belief(models):
    label, seen, belief, status = app.read_drawing(_data_url(_ink_png(_one)), models)
    names = models.get(None).card.class_names
    assert set(label) == set(names)
    assert sum(label.values()) == pytest.approx(1.0, abs=1e-4)
    best = max(label, key=label.get)
    assert status.startswith(f"**{best}**")
    assert seen.shape == (28 * ROW_PX, 28 * ROW_PX) and seen.dtype == np.uint8
    assert seen.max() == 255 and seen.min() == 0  # white ink on black, as MNIST
    assert belief.ndim == 3 and belief.shape[2] == 3 and belief.dtype == np.uint8


@pytest.mark.parametrize("ink", ["", None])
def test_blank_canvas_is_the_empty_state(models, ink):
    assert app.read_drawing(ink, models) == (None, None, None, app.EMPTY)


def test_transparent_canvas_with_no_ink_is_the_empty_state(models):
    assert app.read_drawing(_data_url(_ink_png(lambda d: None)), models)[3] == app.EMPTY


def test_a_single_dot_is_the_empty_state_not_a_guess(models):
    dot = _ink_png(lambda d: d.ellipse((130, 130, 150, 150), fill=(0, 0, 0, 255)))
    assert app.read_drawing(_data_url(dot), models) == (None, None, None, app.EMPTY)


def test_a_canvas_mostly_covered_in_ink_is_a_message(models):
    mostly = _ink_png(lambda d: d.rectangle((20, 20, 260, 260), fill=(0, 0, 0, 255)))
    result = app.read_drawing(_data_url(mostly), models)
    assert _is_message(result) and "ink" in result[3]


def test_a_canvas_entirely_inked_is_uniform_so_the_empty_state(models):
    full = _ink_png(lambda d: d.rectangle((0, 0, 279, 279), fill=(0, 0, 0, 255)))
    assert app.read_drawing(_data_url(full), models) == (None, None, None, app.EMPTY)


@pytest.mark.parametrize(
    "ink",
    [
        "unavailable",
        "data:image/jpeg;base64,AAAA",
        "data:image/png;base64,not base64!",
        "data:image/png;base64," + base64.b64encode(b"not a png").decode(),
        "data:image/png;base64," + "A" * (app.MAX_INK_URL + 4),
        "javascript:alert(1)",
    ],
)
def test_garbled_or_foreign_ink_is_a_message(models, ink):
    result = app.read_drawing(ink, models)
    assert _is_message(result) and result[3].startswith("**Cannot read this input:**")


def test_nan_pixels_are_a_message(models):
    result = app.analyse(np.full((64, 64), np.nan, dtype=np.float32), models)
    assert _is_message(result) and "NaN" in result[3]


def test_an_unexpected_failure_is_a_message_not_an_exception(models, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "to_mnist", explode)
    result = app.analyse(np.zeros((28, 28)), models)
    assert _is_message(result) and "went wrong" in result[3] and "boom" not in result[3]


def test_corrupt_upload_is_a_message(models, tmp_path):
    bad = tmp_path / "digit.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)
    result = app.read_upload({"path": str(bad), "orig_name": "digit.png"}, models)
    assert _is_message(result) and result[3].startswith("**Cannot read this input:**")


def test_missing_upload_file_is_a_message(models, tmp_path):
    assert _is_message(app.read_upload(str(tmp_path / "gone.png"), models))


def test_no_upload_is_the_upload_empty_state(models):
    assert app.read_upload(None, models) == (None, None, None, app.EMPTY_UPLOAD)


@pytest.mark.slow
def test_a_10000_pixel_square_upload_is_read_not_crashed(models, tmp_path):
    image = Image.new("L", (10_000, 10_000), 255)
    ImageDraw.Draw(image).line([(5000, 1500), (4900, 8500)], fill=0, width=900)
    path = tmp_path / "huge.png"
    image.save(path, optimize=False)
    label, seen, _, status = app.read_upload({"path": str(path)}, models)
    assert label is not None and seen.shape == (224, 224), status


def test_dark_photo_with_light_ink_and_alpha_upload_reads(models, tmp_path):
    image = Image.new("RGBA", (600, 400), (20, 20, 20, 255))
    ImageDraw.Draw(image).line([(300, 60), (290, 340)], fill=(230, 230, 230, 255), width=30)
    path = tmp_path / "photo.png"
    image.save(path)
    label, *_ = app.read_upload({"path": str(path)}, models)
    assert label is not None


def test_unknown_precision_falls_back_to_the_default_model(models):
    assert models.get("fp64") is models.get(None) is models.by_name["float32"]


def test_settled_row_is_where_the_running_answer_stops_changing():
    rows = np.zeros((28, 10))
    rows[:, 3] = 1.0
    rows[:10, 5] = 2.0  # rows 1..10 believed 5, row 11 on believed 3
    assert app._settled_row(rows, best=3) == 11
    assert app._settled_row(np.tile(np.eye(10)[7], (28, 1)), best=7) == 1


def test_plots_are_well_formed():
    assert colour_ramp(np.array([0.0, 1.0, np.nan])).tolist()[2] == colour_ramp(0.0).tolist()
    assert seen_image(np.full((28, 28), 300.0)).max() == 255
    probs = np.full((28, 10), 0.1, dtype=np.float32)
    heat = belief_heatmap(probs, tuple("0123456789"))
    assert heat.shape[0] > 28 * ROW_PX and heat.shape[2] == 3


def test_png_file_is_content_addressed_and_complete(tmp_path):
    picture = seen_image(np.eye(28) * 255)
    first = app.png_file(picture, tmp_path)
    assert app.png_file(picture.copy(), tmp_path) == first
    assert np.array_equal(np.asarray(Image.open(first)), picture)
    assert not [p for p in tmp_path.rglob(".image.*")]  # no staging files left behind
    assert app.png_file(None, tmp_path) is None
