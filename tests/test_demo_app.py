"""The page's handlers: every value a browser or a client can send ends in an answer object
(a reading, the empty state or one sentence), never an exception or a traceback."""

import base64
import io
import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from gradio.utils import get_upload_folder
from PIL import Image, ImageDraw

from demo import app, guard, reading
from demo.canvas import HEIGHT, MAX_INK_URL, MAX_SIDE, SIZE_SENTENCE, WIDTH, decoded
from demo.numbers import MAX_DIGITS
from demo.reader import ModelCard, Reader


@pytest.fixture(scope="module")
def models() -> app.Models:
    return app.Models.load()


def _is_refusal(answer: dict, words: str = "") -> bool:
    return answer["state"] == "error" and "pixels" not in answer and words in answer["message"]


def _png(draw_fn, size: tuple[int, int] = (WIDTH, HEIGHT), mode: str = "RGBA") -> bytes:
    """What the page sends: black ink in the alpha channel of a transparent WIDTH x HEIGHT."""
    image = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else 255)
    draw_fn(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _url(png: bytes | str) -> str:
    return (
        png if isinstance(png, str) else "data:image/png;base64," + base64.b64encode(png).decode()
    )


def _value(png: bytes | str, number: int = 7) -> dict:
    """One digit, as the page sends it: the whole canvas."""
    return {"ink": _url(png), "n": number}


def _number(*digits: tuple[bytes | str, list], number: int = 7) -> dict:
    """A number, as the page sends it: each digit's strokes alone on its own plane, its box."""
    return {"digits": [{"ink": _url(png), "box": box} for png, box in digits], "n": number}


def _one(draw: ImageDraw.ImageDraw) -> None:
    draw.line([(140, 40), (135, 240)], fill=(0, 0, 0, 255), width=24)


@pytest.fixture
def uploaded(tmp_path) -> Path:
    """A folder inside Gradio's upload folder, where the guard lets the page read files."""
    folder = Path(get_upload_folder()) / f"hrnn-test-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    yield folder
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def test_a_drawn_stroke_gives_the_reading_the_page_draws(models):
    answer = app.read_drawing(_value(_png(_one), number=12), models)
    names = list(models.get(None).card.class_names)
    assert answer["state"] == "reading" and answer["for"] == 12  # echoed: the page knows which ink
    assert answer["classes"] == names and answer["label"] in names
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert [name for name, _ in answer["top"]][0] == answer["label"] and len(answer["top"]) == 3
    pixels = np.frombuffer(base64.b64decode(answer["pixels"]), np.uint8)
    assert pixels.size == 28 * 28 and pixels.min() == 0 and pixels.max() == 255  # white on black
    rows = np.frombuffer(base64.b64decode(answer["rows"]), np.uint8).reshape(answer["rows_shape"])
    assert rows.shape == (28, len(names))
    np.testing.assert_allclose(rows.sum(axis=1) / 255, 1.0, atol=0.03)  # beliefs x 255, rounded
    assert np.argmax(rows[-1]) == names.index(answer["label"])
    assert answer["message"].startswith(f"Read as {answer['label']} (")
    assert len(json.dumps(answer)) < 3_000  # numbers, not pictures: a few kB per answer


@pytest.mark.parametrize("value", [{"ink": "", "n": 3}, {"n": 3}, {"ink": None, "n": 3}])
def test_a_cleared_canvas_is_the_empty_state_for_that_send(models, value):
    assert app.read_drawing(value, models) == {"state": "empty", "message": app.EMPTY, "for": 3}


def test_no_value_at_all_is_the_empty_state(models):
    assert app.read_drawing(None, models)["message"] == app.EMPTY


@pytest.mark.parametrize(
    "draw_fn",
    [lambda d: None, lambda d: d.ellipse((130, 130, 150, 150), fill=(0, 0, 0, 255))],
    ids=["no ink", "a dot"],
)
def test_ink_with_nothing_to_read_says_keep_drawing(models, draw_fn):
    answer = app.read_drawing(_value(_png(draw_fn)), models)
    assert answer == {"state": "empty", "message": app.BLANK_DRAWING, "for": 7}


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64,AAAA",  # a bare string: the page sends an object
        ["ink"],
        {"ink": "data:image/png;base64,AAAA", "n": 1, "extra": 1},
        {"ink": "data:image/png;base64,AAAA", "n": -1},
        {"ink": "data:image/png;base64,AAAA", "n": "1"},
        {"ink": "data:image/png;base64,AAAA", "n": True},
        {"ink": 42, "n": 1},
        {"ink": "data:image/jpeg;base64,AAAA", "n": 1},
        {"ink": "javascript:alert(1)", "n": 1},
        {"ink": "data:image/png;base64,not base64!", "n": 1},
        {"ink": "data:image/png;base64," + base64.b64encode(b"not a png").decode(), "n": 1},
        {"ink": "data:image/png;base64," + "A" * MAX_INK_URL, "n": 1},
    ],
)
def test_anything_the_page_would_not_send_is_one_sentence(models, value):
    answer = app.read_drawing(value, models)
    assert _is_refusal(answer, "Cannot read this input: The drawing")


@pytest.mark.parametrize(
    "size", [(HEIGHT, HEIGHT), (WIDTH - 1, HEIGHT), (WIDTH, HEIGHT + 1), (4 * WIDTH, 4 * HEIGHT)]
)
def test_ink_of_another_size_is_refused_before_decoding(models, size):
    answer = app.read_drawing(_value(_png(_one, size=size)), models)
    assert _is_refusal(answer, SIZE_SENTENCE)


def test_a_truncated_png_of_the_right_size_is_a_sentence(models):
    truncated = _png(_one)[:200]  # the header says 560x280; the pixels do not follow
    assert _is_refusal(app.read_drawing(_value(truncated), models), "Cannot read")


def test_nan_pixels_are_a_sentence(models):
    plane = np.full((64, 64), np.nan, np.float32)
    answer = app.answer(plane, lambda reader, ink: reader.read(ink), models, None, app.BLANK_UPLOAD)
    assert _is_refusal(answer, "NaN")


def test_an_unexpected_failure_is_a_sentence_not_an_exception(models, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "drawn", explode)
    answer = app.read_drawing(_value(_png(_one)), models)
    assert answer == {"state": "error", "message": app.UNEXPECTED, "for": 7}
    assert "boom" not in answer["message"]


def test_unknown_model_names_are_refused_and_none_is_the_default(models):
    for bad in ("float64", "", {"name": "float32"}, ["float32"], 8, "FLOAT32"):
        answer = app.read_drawing(_value(_png(_one)), models, bad)
        assert answer["message"] == guard.UNKNOWN_MODEL
    assert _is_refusal(app.read_upload({"path": "x.png"}, models, {"a": 1}))
    assert models.get(None) is models.by_name["float32"]


def test_int8_reading_names_its_model(models):
    if "int8" not in models.by_name:
        pytest.skip("no int8 model shipped")
    answer = app.read_drawing(_value(_png(_one)), models, "int8")
    assert answer["model"] == "int8" and "int8 model" in answer["message"]
    if models.get("int8").card.approximate:
        assert answer["message"].endswith("its confidences are approximate (quantized weights).")


def test_no_upload_is_the_upload_prompt(models):
    assert app.read_upload(None, models) == {
        "state": "empty",
        "message": app.EMPTY_UPLOAD,
        "for": None,
    }


def test_a_blank_upload_says_so_in_a_sentence(models, uploaded):
    blank = uploaded / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    answer = app.read_upload({"path": str(blank)}, models)
    assert answer == {"state": "empty", "message": app.BLANK_UPLOAD, "for": None}


def test_an_uploaded_dark_photo_with_light_ink_is_read(models, uploaded):
    image = Image.new("RGB", (600, 400), (20, 20, 20))
    ImageDraw.Draw(image).line([(300, 60), (290, 340)], fill=(230, 230, 230), width=30)
    image.save(uploaded / "photo.png")
    assert app.read_upload({"path": str(uploaded / "photo.png")}, models)["state"] == "reading"


def test_a_corrupt_upload_is_a_sentence(models, uploaded):
    bad = uploaded / "digit.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)
    assert _is_refusal(app.read_upload({"path": str(bad)}, models), "Cannot read this input:")


@pytest.mark.parametrize("path", ["/etc/passwd", "../../x.png", "", 5])
def test_files_gradio_did_not_receive_are_refused(models, path):
    answer = app.read_upload({"path": path}, models)
    assert answer == {"state": "error", "message": guard.NOT_UPLOADED, "for": None}


def test_below_the_cards_threshold_the_page_is_not_sure(models):
    """A calibrated card with a threshold: the answer admits doubt and names the runner-up."""
    reader = Reader(app.DEFAULT_MODEL)
    # A threshold over any answer this reading gets makes it a guess between two.
    confidence = app.read_drawing(_value(_png(_one)), models)["confidence"]
    strict = dict(reader.card.raw["calibration"], sure_at=(1 + confidence) / 2)
    reader.card = ModelCard.from_json(json.dumps(dict(reader.card.raw, calibration=strict)))
    unsure = app.Models({"float32": reader})
    answer = app.read_drawing(_value(_png(_one)), unsure)
    assert answer["sure"] is False and answer["confidence"] == confidence
    assert answer["runner_up"] != answer["label"]
    # the headline says "Not sure: maybe 1, or 7" (answer.js); the sentence does not repeat it
    assert answer["message"].startswith(f"{int(100 * confidence)}% for {answer['label']}")
    assert "Not sure" not in answer["message"] and "maybe" not in answer["message"]
    shipped = app.read_drawing(_value(_png(_one)), models)  # a clear 1 under the shipped card
    assert shipped["sure"] is True and shipped["confidence"] >= models.get(None).card.sure_at


def test_a_drawing_goes_straight_to_the_graph_without_photo_cleaning(models, monkeypatch):
    def photo_cleaning(*args, **kwargs):
        raise AssertionError("a drawing went through demo.photo")

    monkeypatch.setattr(reading, "photo_inks", photo_cleaning)
    answer = app.read_drawing(_value(_png(_one)), models)
    assert answer["state"] == "reading" and answer["label"] == "1"


def test_the_canvas_plane_is_the_pngs_alpha():
    plane = decoded(_url(_png(_one)), (WIDTH, HEIGHT))
    assert plane.shape == (HEIGHT, WIDTH) and plane.dtype == np.float32
    assert plane[140, 138] == 1.0 and plane[10, 10] == 0.0


def test_an_opaque_png_is_all_ink_and_refused_in_a_sentence(models):
    answer = app.read_drawing(_value(_png(_one, mode="RGB")), models)
    assert _is_refusal(answer, "mostly ink")


def _digits(*xs: int):
    """Strokes of 1s at these x positions, 200 px tall."""

    def drawn(draw: ImageDraw.ImageDraw) -> None:
        for x in xs:
            draw.line([(x, 40), (x - 4, 240)], fill=(0, 0, 0, 255), width=24)

    return drawn


def _seven_and_one(draw: ImageDraw.ImageDraw) -> None:
    draw.line([(60, 50), (180, 50), (120, 240)], fill=(0, 0, 0, 255), width=24)
    _digits(400)(draw)


def _seven(draw: ImageDraw.ImageDraw) -> None:
    """A 7 alone on its own plane: its box (48..192, 38..252) plus a margin."""
    draw.line([(40, 30), (160, 30), (100, 220)], fill=(0, 0, 0, 255), width=24)


SEVEN = (_png(_seven, size=(200, 250)), [48, 38, 144, 214])
ONE = (
    _png(lambda d: d.line([(60, 30), (56, 230)], fill=(0, 0, 0, 255), width=24), size=(120, 260)),
    [384, 28, 28, 224],
)


def test_a_drawn_number_is_read_digit_by_digit(models):
    answer = app.read_drawing(_number(SEVEN, ONE, number=3), models)
    assert answer["state"] == "reading" and answer["for"] == 3
    assert answer["number"] == "71" and [d["label"] for d in answer["digits"]] == ["7", "1"]
    assert set(answer["digits"][0]) == {"label", "confidence", "sure", "runner_up", "box"}
    assert [d["box"] for d in answer["digits"]] == [SEVEN[1], ONE[1]]  # where the page drew them
    assert answer["message"].startswith("Read as 71 (") and "pixels" not in answer


def test_a_number_whose_other_digits_hold_nothing_is_its_one_digit(models):
    blank = (_png(lambda d: None, size=(40, 40)), [300, 100, 20, 20])
    answer = app.read_drawing(_number(SEVEN, blank), models)
    assert answer["label"] == "7" and "number" not in answer and "pixels" in answer


def test_a_number_of_digits_with_nothing_to_read_says_keep_drawing(models):
    blank = (_png(lambda d: None, size=(40, 40)), [300, 100, 20, 20])
    answer = app.read_drawing(_number(blank, blank), models)
    assert answer == {"state": "empty", "message": app.BLANK_DRAWING, "for": 7}


def test_a_single_drawn_digit_is_answered_as_it_always_was(models):
    answer = app.read_drawing(_value(_png(_one)), models)
    whole = Reader(app.DEFAULT_MODEL).read(decoded(_url(_png(_one)), (WIDTH, HEIGHT)))
    assert "number" not in answer and answer["label"] == "1" and "pixels" in answer
    assert answer["confidence"] == whole.record()["confidence"]


def test_one_plane_is_one_digit_the_server_cuts_nothing(models):
    """The page groups its strokes; a whole-canvas plane is read as the one digit it says."""
    answer = app.read_drawing(_value(_png(_seven_and_one)), models)
    assert answer["state"] == "reading" and "number" not in answer and "pixels" in answer


@pytest.mark.parametrize(
    "digits",
    [
        [],  # a number has two digits or more
        [SEVEN],
        [SEVEN] * (MAX_DIGITS + 1),
        "not a list",
        [SEVEN, "one"],
        [SEVEN, {"ink": ONE[0]}],  # no box
        [SEVEN, {"ink": ONE[0], "box": ONE[1], "extra": 1}],
        [SEVEN, (ONE[0], [1, 2, 3])],
        [SEVEN, (ONE[0], [1, 2, 3, True])],
        [SEVEN, (ONE[0], [1, 2, 3, 4.0])],
        [SEVEN, (ONE[0], [1, 2, 0, 4])],  # an empty box
        [SEVEN, (ONE[0], [10**9, 2, 3, 4])],  # far off the canvas
        [SEVEN, ("data:image/png;base64,AAAA", ONE[1])],
        [SEVEN, (_png(_one, size=(MAX_SIDE + 1, 10)), ONE[1])],  # larger than any digit
        [SEVEN, (_png(_one, mode="RGB")[:100], ONE[1])],
    ],
)
def test_a_number_the_page_would_not_send_is_one_sentence(models, digits):
    if isinstance(digits, list):
        digits = [
            d if isinstance(d, dict | str) else {"ink": _url(d[0]), "box": d[1]} for d in digits
        ]
    answer = app.read_drawing({"digits": digits, "n": 1}, models)
    assert _is_refusal(answer, "Cannot read this input: The drawing")


def test_a_value_with_both_one_ink_and_digits_is_refused(models):
    both = dict(_number(SEVEN, ONE), ink=_url(_png(_one)))
    assert _is_refusal(app.read_drawing(both, models), "Cannot read this input: The drawing")


def test_a_drawing_is_read_by_at_most_four_demo_modules(models):
    """The page, the canvas check, the reader, the answer: no cleaning, no segmentation."""
    touched = set()

    def trace(frame, event, arg):
        module = frame.f_globals.get("__name__", "")
        if event == "call" and module.startswith("demo."):
            touched.add(module)
        return None

    for value in (_value(_png(_one)), _number(SEVEN, ONE)):
        sys.settrace(trace)
        try:
            answer = app.read_drawing(value, models)
        finally:
            sys.settrace(None)
        assert answer["state"] == "reading"
    assert touched == {"demo.app", "demo.canvas", "demo.reader", "demo.answer"}


def test_the_read_api_answers_the_cli_record(models, uploaded):
    path = uploaded / "number.png"
    Image.open(io.BytesIO(_png(_seven_and_one))).save(path)
    got = app.read_record({"path": str(path)}, models)
    assert got["number"] == "71" and len(got["digits"]) == 2 and "message" not in got
    assert app.read_record(None, models) == {"error": app.NO_UPLOAD}
    assert app.read_record({"path": "/etc/passwd"}, models) == {"error": guard.NOT_UPLOADED}
