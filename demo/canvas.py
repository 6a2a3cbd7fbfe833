"""The drawing surface the project owns: a gr.HTML canvas and the check of what it sends.

Built on gr.HTML's documented html_template / css_template / js_on_load (demo/canvas.js), so
no Gradio internals are read. The browser sends {"ink": PNG data URL or "", "n": send number};
every other value a client could send is refused here in one sentence. The PNG's alpha is the
ink plane the reader graph takes as it is: a drawing needs no photo cleaning.
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

from demo.reader import PreprocessError

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 560, 280  # the ink PNG is exactly this (canvas.js): 10x MNIST high, room
# for a number across
PNG_PREFIX = "data:image/png;base64,"
MAX_INK_URL = 512 * 2**10  # a 560x280 ink PNG is a few kB as a data URL
MAX_SEND_NUMBER = 2**31
SIZE_SENTENCE = f"The drawing must be a {WIDTH}x{HEIGHT} PNG, as this page sends."
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


def ink_canvas(elem_id: str, answer_id: str, browser: dict | None = None) -> gr.HTML:
    """The canvas component; its "ink" event fires for every ink it sends to be read.

    A blank canvas (Clear, or Undo of the last stroke) is not sent: the answer box with
    elem_id answer_id shows its prompt at once. With `browser` (demo.browser.browser_reader)
    the page reads drawings itself once the runtime has loaded, and sends only what it cannot.
    """
    return gr.HTML(
        browser=browser,
        value={"ink": "", "n": 0},
        html_template=TEMPLATE.replace("{answer}", answer_id),
        css_template=(HERE / "canvas.css").read_text(encoding="utf-8"),
        js_on_load=(HERE / "canvas.js").read_text(encoding="utf-8"),
        apply_default_css=False,
        elem_id=elem_id,
    )


def ink_png(value: object) -> tuple[bytes | None, int | None]:
    """The canvas value -> (PNG bytes or None for a blank canvas, send number).

    Raises PreprocessError for anything the page itself would not send.
    """
    if value is None:
        return None, None
    if not isinstance(value, dict) or set(value) - {"ink", "n"}:
        raise PreprocessError("The drawing arrived in a form this page does not send.")
    ink, number = value.get("ink"), value.get("n")
    if number is not None and not (type(number) is int and 0 <= number < MAX_SEND_NUMBER):
        raise PreprocessError("The drawing arrived in a form this page does not send.")
    if ink in ("", None):
        return None, number
    if not isinstance(ink, str) or len(ink) > MAX_INK_URL or not ink.startswith(PNG_PREFIX):
        raise PreprocessError("The drawing arrived in a form this page does not send.")
    try:
        png = base64.b64decode(ink[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise PreprocessError("The drawing arrived garbled; please draw again.") from None
    if _png_size(png) != (WIDTH, HEIGHT):
        raise PreprocessError(SIZE_SENTENCE)
    return png, number


def ink_plane(png: bytes) -> np.ndarray:
    """The checked PNG (ink_png) -> its alpha as float32 (HEIGHT, WIDTH) ink, 0 paper to 1."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a PNG that makes Pillow warn is not the page's
            with Image.open(io.BytesIO(png)) as image:
                if image.size != (WIDTH, HEIGHT):
                    raise PreprocessError(SIZE_SENTENCE)
                alpha = np.asarray(image.convert("RGBA"), dtype=np.uint8)[:, :, 3]
    except PreprocessError:
        raise
    except Exception:  # noqa: BLE001 - any decoding failure of a client's bytes: one sentence
        raise PreprocessError("The drawing arrived garbled; please draw again.") from None
    return alpha.astype(np.float32) / np.float32(255)


def _png_size(png: bytes) -> tuple[int, int] | None:
    """Width and height from the PNG header, without decoding anything."""
    if len(png) < 24 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])
