"""What the page needs to read drawings in the visitor's browser instead of on the server.

The browser runs the very reader graph the server runs (the shipped .onnx: ink plane in,
calibrated probabilities, per-row beliefs and the 28x28 it saw out) through onnxruntime-web
(demo.webruntime fetches it), in a Web Worker (demo/web/worker.js) so that reading never holds
up the stroke being drawn. No preprocessing or calibration is written twice: the graph does
all of it. The answer's wording comes from demo.answer (its sentences travel in the canvas' facts).

The worker, the runtime and the model are served at fixed names under /ROUTE/ (a route table
registered on the Gradio app), so the page never learns where the server keeps its files.
The table is looked up on every request: a runtime that arrives after the server started (it
is fetched in the background, demo.webruntime) is served from then on, and pages opened after
that read in the browser. Until then the worker cannot load it and the page quietly sends its
drawings to the server; so it does for the int8 model (demo/canvas.js), and for every drawing
with HRNN_BROWSER_READS=0.
"""

import os
from pathlib import Path

import gradio as gr
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from demo import webruntime
from demo.reader import Reader

WEB = Path(__file__).resolve().parent / "web"  # the worker's modules (and vendor/, the runtime)
MODULES = ("worker.js", "shown.js")  # every module the worker imports, served by name
RUNTIME_MODULE = "ort.wasm.min.mjs"
ROUTE = "hrnn-web"  # the page fetches ROUTE/<name>, relative to the app's own address
SWITCH = "HRNN_BROWSER_READS"
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".gz": "application/gzip"}


def enabled() -> bool:
    """Browser reads are on unless HRNN_BROWSER_READS=0 (then the server reads every drawing)."""
    return os.environ.get(SWITCH, "1") != "0"


def files(reader: Reader) -> dict[str, Path]:
    """The route table: name the page asks for -> the file served. Empty when the server reads."""
    runtime = webruntime.served_files() if enabled() else {}
    if not runtime:  # off, not fetched yet, or a file that does not match its recorded hash
        return {}
    table = {name: WEB / name for name in MODULES}
    table.update(runtime)
    table[reader.model_path.name] = reader.model_path.resolve()
    return table


def url(name: str) -> str:
    """Where the page fetches `name`: relative, so it works under any root path or proxy."""
    return f"{ROUTE}/{name}"


def browser_reader(reader: Reader) -> dict | None:
    """The canvas' `browser` prop: where the worker, the runtime and the model are fetched.

    None when browser reads are switched off: then every drawing is read on the server.
    """
    if not enabled():
        return None
    card = reader.card
    return {
        "worker": url("worker.js"),
        "runtime": url(RUNTIME_MODULE),
        "wasm": url(webruntime.served_name(webruntime.GZIPPED)),
        "model": url(reader.model_path.name),
        "input": card.input_name,  # the ink plane: (N, H, W) float32, 0 = paper, 1 = ink
        "precision": card.precision,
    }


def serve(demo: gr.Blocks, reader: Reader) -> None:
    """Register GET /ROUTE/<name> for the names in files(reader) at the time of the request,
    and nothing else, on the app.

    Added by Gradio's own startup hook (the one gr.Examples caching uses), which runs once the
    app exists and before launch returns, so the routes are there before any page asks.
    """
    if not enabled():
        return

    async def fetch(request: Request) -> Response:
        path = files(reader).get(request.path_params["name"])
        if path is None or not path.is_file():
            return PlainTextResponse("Not found.", status_code=404)
        kind = TYPES.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-cache"})

    async def mount() -> None:
        app = demo.server_app
        if app is not None and not getattr(app, "hrnn_web", False):
            app.add_route(f"/{ROUTE}/{{name}}", fetch, methods=["GET", "HEAD"])
            app.hrnn_web = True

    demo.extra_startup_events.append(mount)
