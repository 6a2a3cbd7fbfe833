"""What the page needs to read drawings in the visitor's browser instead of on the server.

The browser runs the same float .onnx through onnxruntime-web (demo.webruntime fetches it) and
a JavaScript twin of the drawing path (demo/web/: ink.js, preprocess.js, width.js, reader.js),
in a Web Worker (worker.js) so that reading never holds up the stroke being drawn. Everything
both sides must agree on comes from here, read from the model card inside the ONNX file: one
source of truth. Without the runtime files (offline, or the fetch failed) the server reads every
drawing.
"""

import logging
import os
from pathlib import Path

import gradio as gr

from demo import webruntime
from demo.reader import MOSTLY_INK
from demo.reader import Reader as Classifier

WEB = Path(__file__).resolve().parent / "web"  # the reader's modules (and vendor/, the runtime)
WORKER = WEB / "worker.js"
RUNTIME_MODULE = "ort.wasm.min.mjs"
FILE_ROUTE = "gradio_api/file="  # Gradio's documented route for files in set_static_paths
SWITCH = "HRNN_BROWSER_READS"
log = logging.getLogger("hrnn-mnist.browser")


def enabled() -> bool:
    """Browser reads are on unless HRNN_BROWSER_READS=0 (then the server reads every drawing)."""
    return os.environ.get(SWITCH, "1") != "0"


def prepare(timeout: float = 20.0) -> None:
    """Fetch the runtime at startup if it is missing; failing that, say so (the server reads)."""
    if not enabled():
        return
    try:
        webruntime.ensure(timeout=timeout)
    except webruntime.RuntimeUnavailable as error:
        log.warning("drawings will be read on the server: %s", error)


def file_url(path: Path) -> str:
    """The page-relative URL Gradio serves `path` at once it is a static path."""
    return FILE_ROUTE + str(path.resolve())


def browser_reader(classifier: Classifier, blank: str, cannot: str) -> dict | None:
    """The canvas' `browser` prop: where the reader, runtime and model are, and the card's facts.

    None when the runtime files are not there: then every drawing is read on the server. The
    served files are exactly these (gr.set_static_paths), nothing else from the repository.
    """
    runtime = webruntime.runtime_dir()
    if not enabled() or not webruntime.is_ready(runtime):
        return None
    gr.set_static_paths([*sorted(WEB.glob("*.js")), runtime, classifier.model_path])
    card = classifier.card
    return {
        "worker": file_url(WORKER),
        "runtime": file_url(runtime / RUNTIME_MODULE),
        "wasm": file_url(runtime / webruntime.served_name(webruntime.GZIPPED)),
        "model": file_url(classifier.model_path),
        "card": {
            "precision": card.precision,
            "class_names": list(card.class_names),
            "image_size": card.image_size,
            "digit_box": card.digit_box,
            "pixel_scale": card.pixel_scale,
            "temperature": card.temperature,
            "wide_from": card.wide_from,
            "wide_power": card.wide_power,
            "sure_at": card.sure_at,
            "approximate": card.approximate,
            "input": card.input_name,
        },
        "messages": {"blank": blank, "cannot": cannot, "mostly_ink": MOSTLY_INK},
    }
