"""The drawing surface the project owns: a gr.HTML canvas and the check of what it sends.

Built on gr.HTML's documented html_template / css_template / js_on_load (demo/canvas.js), so
no Gradio internals are read. The page groups its strokes into digits itself (it knows them),
so the server gets ink planes ready to read: {"ink": PNG data URL or "", "n": send number} for
one digit, or {"digits": [{"ink", "box"}, ...], "n"} for a number (see drawn_planes); every
other value a client could send is refused here in one sentence. A PNG's alpha is the ink
plane the reader graph takes as it is: a drawing needs no photo cleaning and no segmentation.
"""

import base64
import binascii
import io
import struct
import warnings
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from demo.numbers import MAX_DIGITS
from demo.reader import Box, PreprocessError

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 560, 280  # the ink PNG is exactly this (canvas.js): 10x MNIST high, room
# for a number across
PNG_PREFIX = "data:image/png;base64,"
MAX_INK_URL = 512 * 2**10  # a 560x280 ink PNG is a few kB as a data URL
MAX_SEND_NUMBER = 2**31
MAX_SIDE = 2 * WIDTH  # a digit's own plane: its strokes' box plus a margin, near the canvas
SIZE_SENTENCE = f"The drawing must be a {WIDTH}x{HEIGHT} PNG, as this page sends."
DIGIT_SIZE = (
    f"The drawing's digits must be PNGs of at most {MAX_SIDE}x{MAX_SIDE}, as this page sends."
)
FORM = "The drawing arrived in a form this page does not send."
GARBLED = "The drawing arrived garbled; please draw again."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LABEL = (
    "Drawing area: draw a digit or a number with a mouse, pen or finger. Ctrl+Z undoes a stroke."
)
TEMPLATE = f"""
<div class="hrnn-ink" data-answer="{{answer}}" data-sent="0" data-strokes="0">
  <canvas tabindex="0" role="img" aria-label="{LABEL}" width="{WIDTH}" height="{HEIGHT}"></canvas>
  <div class="hrnn-tools" role="toolbar" aria-label="Drawing tools">
    <button type="button" data-action="undo" aria-keyshortcuts="Control+Z" disabled>Undo</button>
    <button type="button" data-action="clear" disabled>Clear</button>
  </div>
</div>
"""


def ink_canvas(elem_id: str, answer_id: str, facts: dict, browser: dict | None = None) -> gr.HTML:
    """The canvas component; its "ink" event fires for every ink it sends to be read.

    A blank canvas (Clear, or Undo of the last stroke) is not sent: the answer box with
    elem_id answer_id shows its prompt at once. `facts` (demo.answer.facts) holds the grouping
    rules and the sentences for ink that is not read at all (too many marks, touching digits).
    With `browser` (demo.browser.browser_reader) the page reads drawings itself once the
    runtime has loaded, and sends only what it cannot.
    """
    return gr.HTML(
        facts=facts,
        browser=browser,
        value={"ink": "", "n": 0},
        html_template=TEMPLATE.replace("{answer}", answer_id),
        css_template=(HERE / "canvas.css").read_text(encoding="utf-8"),
        js_on_load=(HERE / "canvas.js").read_text(encoding="utf-8"),
        apply_default_css=False,
        elem_id=elem_id,
    )


def drawn_planes(value: object) -> tuple[list[tuple[np.ndarray, Box | None]], int | None]:
    """The canvas value -> (ink planes, send number); a blank canvas has none.

    {"ink": PNG data URL, "n"}: one digit, the whole WIDTH x HEIGHT plane (box None).
    {"digits": [{"ink": PNG data URL, "box": [x, y, w, h]}, ...], "n"}: a number, grouped by
    its strokes on the page, one plane per digit. Raises PreprocessError for anything else.
    """
    if value is None:
        return [], None
    if not isinstance(value, dict) or set(value) - {"ink", "digits", "n"}:
        raise PreprocessError(FORM)
    number = value.get("n")
    if number is not None and not (type(number) is int and 0 <= number < MAX_SEND_NUMBER):
        raise PreprocessError(FORM)
    if "digits" not in value:
        if value.get("ink") in ("", None):  # a blank canvas: Clear, or Undo of the last stroke
            return [], number
        return [(decoded(value["ink"], (WIDTH, HEIGHT)), None)], number
    if "ink" in value:
        raise PreprocessError(FORM)
    digits = value["digits"]
    if not isinstance(digits, list) or not 2 <= len(digits) <= MAX_DIGITS:
        raise PreprocessError(FORM)
    if any(not isinstance(d, dict) or set(d) != {"ink", "box"} for d in digits):
        raise PreprocessError(FORM)
    if sum(len(d["ink"]) for d in digits if isinstance(d["ink"], str)) > MAX_INK_URL:
        raise PreprocessError(FORM)
    return [(decoded(d["ink"]), checked_box(d["box"])) for d in digits], number


def checked_box(box: object) -> Box:
    """[x, y, w, h] in ink pixels, near the canvas; PreprocessError otherwise."""
    if not isinstance(box, list) or len(box) != 4 or any(type(v) is not int for v in box):
        raise PreprocessError(FORM)
    x, y, w, h = box
    if not (
        -WIDTH <= x <= WIDTH and -HEIGHT <= y <= HEIGHT and 0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE
    ):
        raise PreprocessError(FORM)
    return x, y, w, h


def decoded(url: object, size: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG data URL -> its alpha as float32 (h, w) ink, 0 paper to 1: exactly `size`, or
    (a digit's own plane) at most MAX_SIDE a side. PreprocessError for anything else."""
    if not isinstance(url, str) or len(url) > MAX_INK_URL or not url.startswith(PNG_PREFIX):
        raise PreprocessError(FORM)
    try:
        png = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise PreprocessError(GARBLED) from None
    found = _png_size(png)
    if size is not None and found != size:
        raise PreprocessError(SIZE_SENTENCE)
    if found is None or not 0 < min(found) <= max(found) <= MAX_SIDE:
        raise PreprocessError(GARBLED if found is None else DIGIT_SIZE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a PNG that makes Pillow warn is not the page's
            with Image.open(io.BytesIO(png)) as image:
                if image.size != found:
                    raise PreprocessError(GARBLED)
                alpha = np.asarray(image.convert("RGBA"), dtype=np.uint8)[:, :, 3]
    except PreprocessError:
        raise
    except Exception:  # noqa: BLE001 - any decoding failure of a client's bytes: one sentence
        raise PreprocessError(GARBLED) from None
    return alpha.astype(np.float32) / np.float32(255)


def _png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height from the PNG header, without decoding anything."""
    if len(png) < 24 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])
