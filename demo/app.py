"""The live page: draw a digit or a number (or upload one) and watch the HRNN read it.

Run `python demo/app.py` (also the Hugging Face Space entry point, run from the repo root
without installing the repo); GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override 127.0.0.1:7860.
One onnxruntime session per shipped reader graph, opened once and shared by every request.
A drawing goes straight to the graph: the page sends one plane per digit (demo.canvas), so
the server neither cleans nor segments it. Uploads are cleaned (demo.photo) and cut into digits
(demo.reading, demo.numbers) first; several digits are a number, read digit by digit.
API: /classify answers what the page draws; /read answers the CLI's JSON record.
"""

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable for `demo.*`,
    # and not demo/ itself, whose numbers.py would shadow the standard library's `numbers`
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import gradio as gr

from demo import browser, guard, webruntime
from demo.answer import answer_view, empty, facts, refusal, shown, shown_number
from demo.canvas import drawn_planes, ink_canvas
from demo.examples import example_file, example_row
from demo.numbers import NumberError
from demo.reader import (
    DEFAULT_MODEL,
    INT8_MODEL,
    ModelError,
    NumberReading,
    PreprocessError,
    Reader,
)
from demo.reading import Found, read_picture, record

CONCURRENCY = max(2, os.cpu_count() or 2)
EMPTY = (
    "Draw a digit (0-9) or a number, digits side by side: the guess updates while you draw "
    "and settles when you lift the pen."
)
EMPTY_UPLOAD = "Upload a photo or scan of a handwritten digit or number (any size or polarity)."
BLANK_UPLOAD = "No digit found: this image looks blank (or holds only a dot). Try another one."
NO_UPLOAD = "No image was given: send one image file."
BLANK_DRAWING = "That is too small to read yet: keep drawing."
CANNOT = "Cannot read this input: "
UNEXPECTED = "Something went wrong reading this input. Please try another one."
TITLE = "<h1>A hierarchical RNN reads your digits</h1>"
ABOUT = (
    "A row LSTM reads each of the 28 pixel rows; a column LSTM reads those summaries top to "
    "bottom. The heatmap shows the model's belief after every row, so you can see where it "
    "made up its mind. The int8 model is the quantized export of the same weights."
)
CSS = """
#hrnn-title h1 {
  margin: 0; font-size: 1.6rem; font-weight: 700; line-height: 1.2;
  /* one whole font: the theme's bold web font may hold only a few glyphs (then the first
     word came out lighter and smaller than the rest, in another font) */
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
}
@media (max-width: 480px) {
  .gradio-container { padding-top: 4px !important; }
  #hrnn-title h1 { font-size: 1.25rem; }
}
"""
# The model radio's change, told to the canvas before the server re-reads the upload (the
# `js` argument of an event listener): the canvas re-reads its ink with the chosen model.
TELL_CANVAS = """(upload, precision) => {
  document.dispatchEvent(new CustomEvent("hrnn-model", { detail: precision }));
  return [upload, precision];
}"""
log = logging.getLogger("hrnn-mnist.app")


@dataclass
class Models:
    """The shipped models by precision name; the first is the default."""

    by_name: dict[str, Reader]

    @classmethod
    def load(cls, threads: int = 1) -> "Models":
        models = {"float32": Reader(DEFAULT_MODEL, threads=threads)}
        if INT8_MODEL.is_file():
            try:
                models["int8"] = Reader(INT8_MODEL, threads=threads)
            except ModelError as error:  # a broken optional file must not take the page down
                log.warning("int8 model not offered: %s", error)
        return cls(models)

    @property
    def names(self) -> list[str]:
        return list(self.by_name)

    def get(self, name: object) -> Reader:
        """The named model; None means the default, anything unknown is guard.Refused."""
        if name is None:
            return next(iter(self.by_name.values()))
        if not isinstance(name, str) or name not in self.by_name:
            raise guard.Refused(guard.UNKNOWN_MODEL)
        return self.by_name[name]


def found_in(source: object, read, models: Models, precision: object) -> Found:
    """read(reader, source) with the chosen model: a digit's Reading, a number, or None."""
    return read(models.get(precision), source)


def answer(
    source: object, read, models: Models, precision: object, blank: str, number=None
) -> dict:
    """read(reader, source) -> a digit, a number or nothing -> the answer object; every
    failure is one sentence."""
    try:
        found = found_in(source, read, models, precision)
    except (guard.Refused, NumberError) as error:  # a number's own sentence, as the page says it
        return refusal(str(error), number)
    except (PreprocessError, ModelError) as error:
        return refusal(f"{CANNOT}{error}", number)
    except Exception:  # last line of defence: log it, tell the user in one sentence
        log.exception("unexpected failure while reading")
        return refusal(UNEXPECTED, number)
    if found is None or found.record() is None:  # nothing, or a number of unreadable digits
        return empty(blank, number)
    if isinstance(found, NumberReading):
        return shown_number(found, number)
    return shown(found, number)


def drawn(reader: Reader, planes: list) -> Found:
    """The page's planes as they are: one is a digit, several a number's digits, each read
    on its own plane (the page grouped the strokes; nothing is cleaned or cut here)."""
    if len(planes) == 1:
        return reader.read(planes[0][0])
    readings = reader.read_each([plane for plane, _ in planes])
    return NumberReading.of(readings, [box for _, box in planes])


def read_drawing(value: object, models: Models, precision: object = None) -> dict:
    """The canvas path: its value (demo.canvas.drawn_planes) -> the answer for that ink."""
    try:
        planes, number = drawn_planes(value)
    except PreprocessError as error:
        return refusal(f"{CANNOT}{error}")
    if not planes:
        return empty(EMPTY, number)
    return answer(planes, drawn, models, precision, BLANK_DRAWING, number)


def read_upload(upload: object, models: Models, precision: object = None) -> dict:
    """The upload/API path: a file Gradio received (or a shipped example) -> its answer."""
    if upload is None:
        return empty(EMPTY_UPLOAD)
    try:
        path = guard.checked_upload(upload)
    except guard.Refused as error:
        return refusal(str(error))
    return answer(path, read_picture, models, precision, BLANK_UPLOAD)


def read_record(upload: object, models: Models, precision: object = None) -> dict:
    """The /read API: an image file -> the CLI's JSON record (python -m demo.predict, less
    "file"): a digit's or a number's reading, or {"error": one sentence}."""
    if upload is None:
        return {"error": NO_UPLOAD}
    try:
        path = guard.checked_upload(upload)
        return record(found_in(path, read_picture, models, precision), BLANK_UPLOAD)
    except (guard.Refused, NumberError) as error:
        return {"error": str(error)}
    except (PreprocessError, ModelError) as error:
        return {"error": f"{CANNOT}{error}"}
    except Exception:  # last line of defence: log it, tell the client in one sentence
        log.exception("unexpected failure while reading")
        return {"error": UNEXPECTED}


def build_demo(models: Models | None = None) -> gr.Blocks:
    """The page; models are loaded here once unless given (tests pass their own)."""
    models = models or Models.load()
    names = models.names

    def on_drawing(ink: object, precision: object) -> dict:
        return read_drawing(ink, models, precision)

    def on_upload(upload: object, precision: object) -> dict:
        return read_upload(upload, models, precision)

    def on_record(upload: object, precision: object) -> dict:
        return read_record(upload, models, precision)

    def on_example(value: object) -> tuple:
        try:
            return example_file(value), gr.skip()
        except PreprocessError as error:
            return gr.skip(), refusal(str(error))

    def on_model(upload: object, precision: object) -> dict:
        """A new model re-reads the upload; the canvas re-reads its own ink (canvas.js)."""
        return read_upload(upload, models, precision)

    with gr.Blocks(title="HRNN reads your digit") as demo:
        gr.HTML(TITLE, elem_id="hrnn-title", padding=False)
        # Above the tabs: the choice never moves when an answer appears, and on a phone it
        # sits on the first screen rather than below the heatmap.
        precision = gr.Radio(
            names, value=names[0], label="Model", elem_id="hrnn-model", visible=len(names) > 1
        )
        with gr.Tabs():
            with gr.Tab("Draw", id="draw"), gr.Row(equal_height=False):
                with gr.Column(min_width=290, scale=3):
                    reads_here = browser.browser_reader(models.get(None))
                    rules = facts(models.get(None).card, BLANK_DRAWING)
                    canvas = ink_canvas("hrnn-canvas", "hrnn-draw-answer", rules, reads_here)
                with gr.Column(min_width=290, scale=2):
                    drawn_answer = answer_view("hrnn-draw-answer", EMPTY, number=0)
            with gr.Tab("Upload", id="upload"), gr.Row(equal_height=False):
                with gr.Column(min_width=290):
                    upload = gr.Image(
                        label="Photo or scan of a digit or a number",
                        elem_id="hrnn-upload",
                        sources=["upload", "clipboard"],
                        type="filepath",
                        image_mode=None,
                        height=300,
                    )
                    examples = example_row("hrnn-examples")
                with gr.Column(min_width=290):
                    uploaded = answer_view("hrnn-upload-answer", EMPTY_UPLOAD)
        gr.Markdown(ABOUT)
        reading = gr.JSON(label="reading", visible=False)  # /read's answer: API only
        quiet = {"show_progress": "hidden", "trigger_mode": "always_last"}
        # Drawing reads skip the queue (demo.limits bounds them instead): a queued call costs
        # the server more CPU than the read itself (python -m bench.measure_latency).
        canvas.ink(
            on_drawing,
            [canvas, precision],
            drawn_answer,
            api_visibility="private",
            queue=False,
            preprocess=False,
            **quiet,
        )
        upload.change(
            on_upload, [upload, precision], uploaded, api_name="classify", preprocess=False, **quiet
        )
        examples.pick(
            on_example,
            [examples],
            [upload, uploaded],
            api_visibility="private",
            queue=False,
            preprocess=False,
            **quiet,
        )  # the file becomes the upload's value: upload.change reads it as any upload
        read_button = gr.Button("Read", visible=False)  # /read is called by API clients only
        read_button.click(
            on_record,
            [upload, precision],
            reading,
            api_name="read",
            api_description=read_record.__doc__,
            preprocess=False,
            **quiet,
        )
        precision.change(
            on_model,
            [upload, precision],
            uploaded,
            api_visibility="private",
            preprocess=False,
            js=TELL_CANVAS,
            **quiet,
        )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    browser.serve(demo, models.get(None))  # what the page may fetch to read by itself
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    if browser.enabled():  # onnxruntime-web, fetched behind the page: until then the server reads
        webruntime.fetch_in_background()
    guard.serve(build_demo(), css=CSS, footer_links=["api", "gradio"])
