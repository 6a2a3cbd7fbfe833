"""The shipped example pictures: a row of thumbnails that hands one to the upload box.

gr.Examples would put each file's cached path (an absolute path on the server) into the
page's config; here the thumbnails travel inside the page as data URLs, a click sends only the
example's name ({"example": name}, checked against the shipped names), and the handler
returns that file as the upload's value, so the upload box reads it as any upload.
"""

import base64
import functools
import io
from html import escape
from pathlib import Path

import gradio as gr
from PIL import Image

from demo.reader import PreprocessError

FOLDER = Path(__file__).resolve().parent / "examples"
MAX_SHOWN = 8
THUMBNAIL = 128  # px, the longer side: a few kB each in the page, sharp at 64 CSS px
NO_SUCH = "No such example: choose one of the pictures shown."
JS = """
for (const button of element.querySelectorAll("button[data-example]")) {
  button.addEventListener("click", () => {
    props.value = { example: button.dataset.example };
    trigger("pick");
  });
}
"""
CSS = """
.hrnn-examples { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.hrnn-examples p { margin: 0; width: 100%; font-size: 0.9rem; }
.hrnn-examples button {
  padding: 2px; border: 1px solid var(--border-color-primary); border-radius: 6px;
  background: var(--background-fill-primary); cursor: pointer;
}
.hrnn-examples button:focus-visible { outline: 2px solid var(--color-accent); }
.hrnn-examples img { display: block; width: 64px; height: 64px; object-fit: contain; }
"""


@functools.cache
def shipped() -> dict[str, Path]:
    """Example name (the file's stem) -> its file, in name order; looked up once."""
    return {path.stem: path for path in sorted(FOLDER.glob("*.png"))[:MAX_SHOWN]}


def example_row(elem_id: str) -> gr.HTML:
    """The thumbnails; their "pick" event carries the clicked one's name."""
    buttons = []
    for name, path in shipped().items():
        url = "data:image/png;base64," + base64.b64encode(thumbnail(path)).decode()
        words = escape(name.replace("_", " "))
        buttons.append(
            f'<button type="button" data-example="{escape(name)}" aria-label="Example: {words}">'
            f'<img src="{url}" alt="{words}"></button>'
        )
    template = '<div class="hrnn-examples"><p>Examples (click one)</p>' + "".join(buttons)
    return gr.HTML(
        value=None,
        html_template=template + "</div>",
        css_template=CSS,
        js_on_load=JS,
        apply_default_css=False,
        elem_id=elem_id,
        visible=bool(buttons),
    )


def thumbnail(path: Path) -> bytes:
    """The picture shrunk to THUMBNAIL px as PNG: the page shows it, the file is what is read."""
    with Image.open(path) as image:
        image.thumbnail((THUMBNAIL, THUMBNAIL))
        buffer = io.BytesIO()
        image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def example_file(value: object) -> str:
    """The pick event's value -> the shipped file it names; PreprocessError otherwise."""
    if not isinstance(value, dict) or set(value) != {"example"}:
        raise PreprocessError(NO_SUCH)
    path = shipped().get(value["example"]) if isinstance(value["example"], str) else None
    if path is None:
        raise PreprocessError(NO_SUCH)
    return str(path)
