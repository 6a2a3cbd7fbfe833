"""demo.guard: which files and model names the public server accepts, and how it launches.

A path is read only if Gradio received it as an upload (or it is a shipped example), and every
other path gets the same sentence without the filesystem being asked. The middleware's limits
are tested in tests/test_demo_limits.py.
"""

import os
from types import SimpleNamespace

import gradio as gr
import pytest

from demo import examples, guard, limits
from demo.guard import NOT_UPLOADED, Refused, checked_upload
from demo.pixels import PreprocessError

EXAMPLE = str(examples.FOLDER / "drawn_3.png")  # readable once picked: as an upload


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """A private Gradio upload folder holding one uploaded PNG; no running app."""
    folder = tmp_path / "gradio"
    (folder / "0a1b").mkdir(parents=True)
    (folder / "0a1b" / "digit.png").write_bytes(b"\x89PNG not really")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    monkeypatch.setattr(guard, "_served", None)
    return folder


def refusal(payload: object) -> str:
    with pytest.raises(Refused) as caught:
        checked_upload(payload)
    return str(caught.value)


# --- checked_upload ---------------------------------------------------------------------------


def test_an_upload_is_accepted(uploads):
    path = str(uploads / "0a1b" / "digit.png")
    assert checked_upload({"path": path, "meta": {"_type": "gradio.FileData"}}) == path
    assert checked_upload(path) == path


@pytest.mark.parametrize(
    "payload",
    [
        "/etc/shadow",
        "/root/.ssh/id_rsa",
        "/dev/zero",
        "/proc/self/fd/1",
        {"path": "/definitely/missing.png"},
        {"path": "docs/screenshot.png"},  # relative: the server's working tree
        {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
        {"url": "http://127.0.0.1/x.png"},
        {"path": ["/etc/passwd"]},
        {"path": 7},
        None,
        42,
        [EXAMPLE],
        EXAMPLE,  # a shipped file by its path: the page hands examples over as uploads
        "",
        "x" * 5000,
        "bad\0path",
    ],
)
def test_everything_else_gets_the_same_sentence(uploads, payload):
    assert refusal(payload) == NOT_UPLOADED


def test_paths_outside_the_upload_folder_are_refused_without_touching_the_disk(
    uploads, monkeypatch
):
    def forbidden(*args, **kwargs):
        raise AssertionError("the filesystem was asked about an outside path")

    lexical_only = SimpleNamespace(
        PathLike=os.PathLike,
        fspath=os.fspath,
        sep=os.sep,
        path=SimpleNamespace(abspath=os.path.abspath, realpath=forbidden),
        lstat=forbidden,
        stat=forbidden,
    )
    monkeypatch.setattr(guard, "os", lexical_only)
    for path in ("/etc/shadow", "/root/.ssh/id_rsa", f"{uploads}/../../etc/passwd", "relative"):
        assert refusal(path) == NOT_UPLOADED


def test_tricks_inside_the_upload_folder_are_refused(uploads):
    (uploads / "0a1b" / "escape.png").symlink_to("/etc/passwd")
    (uploads / "0a1b" / "loop.png").symlink_to(uploads / "0a1b" / "loop.png")
    os.mkfifo(uploads / "0a1b" / "pipe.png")
    for name in ("escape.png", "loop.png", "pipe.png", "missing.png", "", "../gradio"):
        assert refusal(str(uploads / "0a1b" / name)) == NOT_UPLOADED
    assert refusal(f"{uploads}/0a1b/../../gradio/0a1b/escape.png") == NOT_UPLOADED


def test_a_running_app_reads_only_files_it_recorded(uploads, monkeypatch):
    """With the app served, a file in the folder that Gradio did not record is refused too."""
    recorded = str(uploads / "0a1b" / "digit.png")
    (uploads / "0a1b" / "other.png").write_bytes(b"planted")
    fake = SimpleNamespace(temp_file_sets=[{recorded}, set()])
    monkeypatch.setattr(guard, "_served", fake)
    assert checked_upload({"path": recorded}) == recorded
    assert refusal(str(uploads / "0a1b" / "other.png")) == NOT_UPLOADED


def test_a_refusal_is_a_preprocess_error_so_the_page_shows_it_as_a_sentence():
    assert issubclass(Refused, PreprocessError)


# --- serve: the launch options ----------------------------------------------------------------


def test_serve_launches_with_the_public_limits_whatever_the_caller_asks(monkeypatch):
    with gr.Blocks() as demo:
        image = gr.Image(type="filepath")
        image.change(lambda x: x, image, image)
    demo.queue(max_size=500)
    launched = {}
    monkeypatch.setattr(demo, "launch", lambda **kwargs: launched.update(kwargs))
    monkeypatch.setattr(guard, "tune_malloc", lambda: None)
    monkeypatch.setattr(guard, "_served", None)  # restored after the test; serve() sets it
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    guard.serve(demo, share=True, ssr_mode=True, mcp_server=True, max_file_size=None, css="x")
    assert launched["share"] is False and launched["ssr_mode"] is False
    assert launched["mcp_server"] is False and launched["max_file_size"] == limits.MAX_FILE_BYTES
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999
    assert launched["css"] == "x" and launched["state_session_capacity"] == guard.SESSIONS
    assert [m.cls for m in launched["app_kwargs"]["middleware"]] == [limits.Limits]
    assert demo.api_open is False and demo._queue.max_size == guard.QUEUE_SIZE
    assert demo.delete_cache == (limits.SWEEP_EVERY, limits.FILE_LIFETIME)


def test_serve_refuses_to_start_on_an_unreadable_proxy_setting(monkeypatch):
    """Read once before launch: a bad value is one sentence at start, never a 500 per request."""
    with gr.Blocks() as demo:
        gr.Markdown("x")
    monkeypatch.setattr(demo, "launch", lambda **kwargs: pytest.fail("launched"))
    monkeypatch.setattr(guard, "_served", None)
    monkeypatch.setenv("HRNN_PROXY_HOPS", "many")
    with pytest.raises(SystemExit, match="HRNN_PROXY_HOPS must be a whole number"):
        guard.serve(demo)
