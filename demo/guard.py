"""What the public server accepts: which files a request may name, which values, which bodies.

The page is served to strangers, so every request is treated as hostile until checked here:
a file path must be one Gradio itself received as an upload (a shipped example, once picked,
is one: demo.examples), a model name must be one we ship, and `serve` launches Gradio with
bounded bodies, the queue as the only way in, and no share link, SSR or MCP. Body limits and
route rules live in demo.limits, the shape checks on queue calls in demo.calls.
"""

import os
import stat

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from demo import clients
from demo.calls import NOT_UPLOADED
from demo.limits import FILE_LIFETIME, MAX_FILE_BYTES, SWEEP_EVERY, Limits, tune_malloc
from demo.pixels import PreprocessError

MAX_PATH_CHARS = 1024  # Gradio's own upload paths are ~100 characters
QUEUE_SIZE = 32  # waiting events beyond this get "queue full" instead of piling up memory
SESSIONS = 32  # Gradio keeps each session's last inputs (up to 512 KiB); older sessions are dropped
THREADS = 8  # worker threads; decoding is further bounded in demo.pixels
UNKNOWN_MODEL = "Unknown model: choose one of the models offered on the page."

_served: gr.Blocks | None = None  # the running app, whose record of uploads is consulted


class Refused(PreprocessError):
    """A request asked for something the server does not do; the message is for the user."""


def checked_upload(payload: object) -> str:
    """The path of a file Gradio received as an upload (or sent: a picked example), else Refused.

    The refusal is the same sentence for every other path, so nobody learns what exists.
    Paths outside the upload folder are refused before any filesystem call.
    """
    path = payload.get("path") if isinstance(payload, dict) else payload
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_CHARS or "\0" in path:
        raise Refused(NOT_UPLOADED)
    plain = os.path.abspath(path)  # lexical only: no filesystem access yet
    root = os.path.abspath(get_upload_folder())
    if not _inside(plain, root) or not _gradio_made(path, plain):
        raise Refused(NOT_UPLOADED)
    real = os.path.realpath(plain)
    if not _inside(real, os.path.realpath(root)):
        raise Refused(NOT_UPLOADED)
    try:
        info = os.lstat(real)
    except (OSError, ValueError):
        raise Refused(NOT_UPLOADED) from None
    if not stat.S_ISREG(info.st_mode):
        raise Refused(NOT_UPLOADED)
    return real


def serve(demo: gr.Blocks, **launch_kwargs) -> None:
    """Launch with the public-server limits; page options (css, js, footer) pass through.

    Binds 127.0.0.1 unless GRADIO_SERVER_NAME/PORT say otherwise. Security options given in
    launch_kwargs are overridden, not merged.
    """
    global _served
    try:
        hops = clients.proxy_hops()  # read before any request: a bad value is refused at start
    except ValueError as error:
        raise SystemExit(str(error)) from None
    tune_malloc()
    demo.api_open = False  # /run and /api answer 404 for queued events: the queue is the way in
    queue = demo._queue
    queue.max_size = QUEUE_SIZE if queue.max_size is None else min(queue.max_size, QUEUE_SIZE)
    demo.delete_cache = (SWEEP_EVERY, FILE_LIFETIME)  # uploads leave the disk (limits' window)
    env_port = os.environ.get("GRADIO_SERVER_PORT")
    launch_kwargs.setdefault("server_port", int(env_port) if env_port else None)
    launch_kwargs.update(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        share=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        run_history=False,
        show_error=False,
        strict_cors=True,
        enable_monitoring=False,
        max_file_size=MAX_FILE_BYTES,
        max_threads=THREADS,
        state_session_capacity=SESSIONS,
        allowed_paths=[],
        auth=None,
        app_kwargs={
            "middleware": [Middleware(Limits, blocks=demo, hops=hops)],
            "docs_url": None,
            "redoc_url": None,
            "openapi_url": None,
        },
    )
    _served = demo
    demo.launch(**launch_kwargs)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def _gradio_made(path: str, plain: str) -> bool:
    """Whether the running app recorded this file as an upload or a cached example.

    Without a running app (unit tests, scripts) the upload-folder checks alone apply.
    """
    if _served is None:
        return True
    return any(path in files or plain in files for files in list(_served.temp_file_sets))
