"""The live page: draw a digit (or upload one) and watch the HRNN read it row by row.

Run `python demo/app.py` (also the Hugging Face Space entry point, run from the repo root
without installing the repo); GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override 127.0.0.1:7860.
Serving: one onnxruntime session per shipped model, opened once and shared by every request.
"""

import base64
import binascii
import hashlib
import io
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable for `demo.*`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr
import numpy as np
from PIL import Image

from demo.classifier import DEFAULT_MODEL, INT8_MODEL, Classifier, ModelError
from demo.plots import belief_heatmap, seen_image
from demo.preprocess import PreprocessError, to_mnist

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
LIVE_JS = (HERE / "live.js").read_text(encoding="utf-8")
READ_INK_JS = "(ink, model) => [window.hrnnReadInk ? window.hrnnReadInk() : 'unavailable', model]"
CANVAS = 280  # 10x MNIST: big enough to draw on, small enough to read back in ~1 ms
BRUSH_RADIUS = 12  # px on the 280 px canvas: strokes ~1/12 of a digit's height, like MNIST
MAX_INK_URL = 2 * 2**20  # a 280x280 PNG of ink is a few kB; anything huge is not our page
CONCURRENCY = max(2, os.cpu_count() or 2)
EMPTY = "Draw a digit (0-9) on the canvas: the guess updates after every stroke."
EMPTY_UPLOAD = "Upload a photo or scan of one handwritten digit (any size, either polarity)."
CSS = """
#hrnn-sketch button[aria-label="Pan"] { display: none; }
#hrnn-go { display: none !important; }
"""
log = logging.getLogger("hrnn-mnist.app")


@dataclass
class Models:
    """The shipped models by precision name; the first is the default."""

    by_name: dict[str, Classifier]

    @classmethod
    def load(cls, threads: int = 1) -> "Models":
        models = {"float32": Classifier(DEFAULT_MODEL, threads=threads)}
        if INT8_MODEL.is_file():
            try:
                models["int8"] = Classifier(INT8_MODEL, threads=threads)
            except ModelError as error:  # a broken optional file must not take the page down
                log.warning("int8 model not offered: %s", error)
        return cls(models)

    def get(self, name: str | None) -> Classifier:
        return self.by_name.get(name or "", next(iter(self.by_name.values())))


def _message(text: str) -> tuple:
    return None, None, None, text


def analyse(image: object, models: Models, precision: str | None = None, empty: str = EMPTY):
    """Anything to_mnist takes -> (label dict, seen image, belief heatmap, status markdown).

    Every failure becomes a status line: the page never shows a traceback.
    """
    started = time.perf_counter()
    try:
        classifier = models.get(precision)
        card = classifier.card
        pixels = to_mnist(image, image_size=card.image_size, digit_box=card.digit_box)
        if pixels is None:
            return _message(empty)
        prediction = classifier.predict(pixels)
    except (PreprocessError, ModelError) as error:
        return _message(f"**Cannot read this input:** {error}")
    except Exception:  # last line of defence: log it, tell the user in one sentence
        log.exception("unexpected failure while classifying")
        return _message("**Something went wrong reading this input.** Please try another one.")
    probs = prediction.probabilities[0]
    names = card.class_names
    label = {name: float(p) for name, p in zip(names, probs, strict=True)}
    best = int(np.argmax(probs))
    settled = _settled_row(prediction.row_probabilities[0], best)
    took = (time.perf_counter() - started) * 1000
    status = (
        f"**{names[best]}** ({probs[best]:.0%} sure); its guess settled on {names[best]} "
        f"after row {settled} of {card.image_size}. {card.precision} model, {took:.0f} ms."
    )
    heatmap = belief_heatmap(prediction.row_probabilities[0], names)
    return label, seen_image(pixels), heatmap, status


def _settled_row(row_probabilities: np.ndarray, best: int) -> int:
    """First row from which the running top class stays the final answer."""
    tops = np.argmax(row_probabilities, axis=1)
    wrong = np.flatnonzero(tops != best)
    return int(wrong[-1]) + 2 if wrong.size else 1


def decode_ink(ink: str | None) -> bytes | None:
    """The page's ink data URL -> PNG bytes; '' (blank canvas) -> None."""
    if not ink:
        return None
    if ink == "unavailable":
        raise PreprocessError("This browser did not hand over the drawing; try the Upload tab.")
    prefix = "data:image/png;base64,"
    if len(ink) > MAX_INK_URL or not ink.startswith(prefix):
        raise PreprocessError("The drawing arrived in a form this page does not send.")
    try:
        return base64.b64decode(ink[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise PreprocessError("The drawing arrived garbled; please draw again.") from None


def read_drawing(ink: str | None, models: Models, precision: str | None = None) -> tuple:
    """The live canvas path: the page's ink data URL -> the four outputs."""
    try:
        png = decode_ink(ink)
    except PreprocessError as error:
        return _message(f"**Cannot read this input:** {error}")
    return analyse(png, models, precision)


def read_upload(upload: object, models: Models, precision: str | None = None) -> tuple:
    """The upload/API path: a Gradio file payload (dict with "path") or a path."""
    path = upload.get("path") if isinstance(upload, dict) else upload
    return analyse(path, models, precision, empty=EMPTY_UPLOAD)


def png_file(image: np.ndarray | None, folder: Path) -> str | None:
    """Save a picture as PNG under its content hash, atomically.

    Gradio's own array saving rewrites a same-named file in place, so two users getting the
    same picture could download a half-written one; a file renamed into place cannot.
    """
    if image is None:
        return None
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    data = buffer.getvalue()
    target = folder / hashlib.sha256(data).hexdigest()[:32] / "image.png"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".image.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, target)
    return str(target)


def _picture(elem_id: str, caption: str) -> gr.Image:
    """A captioned, lossless, read-only picture output."""
    with gr.Column(min_width=120):
        gr.Markdown(caption)
        return gr.Image(
            show_label=False, format="png", interactive=False, buttons=[], elem_id=elem_id
        )


def build_demo(models: Models | None = None) -> gr.Blocks:
    """The page; models are loaded here once unless given (tests pass their own)."""
    models = models or Models.load()
    names = list(models.by_name)

    def as_files(result: tuple) -> tuple:
        label, seen_pixels, heatmap, status = result
        folder = Path(seen.GRADIO_CACHE) / "hrnn"
        return label, png_file(seen_pixels, folder), png_file(heatmap, folder), status

    def on_drawing(ink: str | None, precision: str | None):
        return as_files(read_drawing(ink, models, precision))

    def on_upload(upload: object, precision: str | None):
        return as_files(read_upload(upload, models, precision))

    def on_clear():
        return _message(EMPTY)

    with gr.Blocks(title="HRNN reads your digit", delete_cache=(600, 1800)) as demo:
        gr.Markdown(
            "# A hierarchical RNN reads your handwriting\n"
            "A row LSTM reads each of the 28 pixel rows; a column LSTM reads those summaries "
            "top to bottom. Draw a digit: the heatmap shows its belief after every row."
        )
        with gr.Row():
            with gr.Column(scale=5):
                with gr.Tabs():
                    with gr.Tab("Draw", id="draw"):
                        sketch = gr.Sketchpad(
                            elem_id="hrnn-sketch",
                            label="Draw a digit",
                            canvas_size=(CANVAS, CANVAS),
                            height=CANVAS + 110,
                            width=CANVAS + 120,
                            brush=gr.Brush(
                                default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"
                            ),
                            eraser=gr.Eraser(default_size=2 * BRUSH_RADIUS),
                            layers=False,
                            transforms=(),
                            buttons=[],
                        )
                    with gr.Tab("Upload", id="upload"):
                        upload = gr.Image(
                            label="Photo or scan of a digit",
                            elem_id="hrnn-upload",
                            sources=["upload", "clipboard"],
                            type="filepath",
                            image_mode=None,
                            height=CANVAS + 60,
                        )
                        if sorted(EXAMPLES.glob("*.png")):
                            gr.Examples(
                                examples=[[str(p)] for p in sorted(EXAMPLES.glob("*.png"))[:8]],
                                inputs=[upload],
                                label="Examples (click one)",
                            )
                precision = gr.Radio(
                    names,
                    value=names[0],
                    label="Model",
                    info="The int8 file is the quantized export of the same weights.",
                    visible=len(names) > 1,
                )
            with gr.Column(scale=4):
                status = gr.Markdown(EMPTY, elem_id="hrnn-status")
                label = gr.Label(num_top_classes=3, label="Top 3", elem_id="hrnn-label")
                with gr.Row():
                    seen = _picture(
                        "hrnn-seen", "**What the model sees** (28x28, after preprocessing)"
                    )
                    belief = _picture(
                        "hrnn-belief", "**Belief after each row read** (rows down, classes across)"
                    )
        ink = gr.Textbox(visible=False)
        go = gr.Button("read", elem_id="hrnn-go", visible="hidden")
        outputs = [label, seen, belief, status]
        fast = {"show_progress": "hidden", "trigger_mode": "always_last"}
        go.click(
            on_drawing,
            [ink, precision],
            outputs,
            js=READ_INK_JS,
            api_visibility="private",
            **fast,
        )
        sketch.clear(on_clear, None, outputs, api_visibility="private", **fast)
        upload.change(
            on_upload, [upload, precision], outputs, api_name="classify", preprocess=False, **fast
        )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def launch(demo: gr.Blocks, port: int | None = None, **kwargs) -> None:
    """Bind loopback unless GRADIO_SERVER_NAME/PORT say otherwise; no share link, no SSR."""
    env_port = os.environ.get("GRADIO_SERVER_PORT")
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port or (int(env_port) if env_port else None),
        share=False,
        max_file_size="20mb",
        ssr_mode=False,
        mcp_server=False,
        show_error=False,
        footer_links=["api", "gradio"],
        css=CSS,
        js=LIVE_JS,
        **kwargs,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    launch(build_demo())
