"""What the page is told for reads in the browser, and exactly which files it may fetch.

The page's config names the worker, the runtime and the model by fixed routes (never a path
on the server); the route serves those files and nothing else.
"""

import asyncio
import concurrent.futures
import gzip
import hashlib

import gradio as gr
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bench.paths import REPO
from demo import answer, browser, webruntime
from demo.app import BLANK_DRAWING
from demo.reader import Reader
from tests.support.standin_reader import build


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Reader:
    """A model with the reader graph's interface (ink plane in, calibrated outputs out)."""
    return Reader(build(tmp_path_factory.mktemp("reader") / "hrnn_mnist.onnx"))


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A fetched runtime (stand-in files whose hashes are the recorded ones) in its own folder."""
    folder = tmp_path / "onnxruntime-web"
    folder.mkdir()
    for name in webruntime.FILES:
        content = b"runtime " + name.encode()
        served = webruntime.served_name(name)
        (folder / served).write_bytes(
            gzip.compress(content, mtime=0) if served.endswith(".gz") else content
        )
        monkeypatch.setitem(webruntime.DIGESTS, name, hashlib.sha256(content).hexdigest())
    monkeypatch.setattr(webruntime, "runtime_dir", lambda: folder)
    monkeypatch.delenv(browser.SWITCH, raising=False)
    return folder


def test_the_page_may_fetch_the_worker_the_runtime_and_the_model_only(reader, runtime):
    table = browser.files(reader)
    assert table == {
        "worker.js": browser.WEB / "worker.js",
        "shown.js": browser.WEB / "shown.js",
        **{name: runtime / name for name in webruntime.SERVED},
        "hrnn_mnist.onnx": reader.model_path.resolve(),
    }
    assert all(path.is_file() for path in table.values())


def test_every_module_the_worker_imports_is_in_the_table():
    imported = set()
    for name in browser.MODULES:
        text = (browser.WEB / name).read_text(encoding="utf-8")
        imported |= {line.split('"./')[1].split('"')[0] for line in text.splitlines()
                     if line.startswith("import ") and '"./' in line}  # fmt: skip
    assert imported <= set(browser.MODULES)
    assert sorted(p.name for p in browser.WEB.glob("*.js")) == sorted(browser.MODULES)


def test_the_config_names_routes_never_a_server_path(reader, runtime):
    config = browser.browser_reader(reader)
    assert config["worker"] == "hrnn-web/worker.js"
    assert config["runtime"] == "hrnn-web/ort.wasm.min.mjs"
    assert config["wasm"] == "hrnn-web/ort-wasm-simd-threaded.wasm.gz"
    assert config["model"] == "hrnn-web/hrnn_mnist.onnx"
    assert config["input"] == "ink" and config["precision"] == "float32"
    assert str(runtime) not in repr(config) and str(browser.WEB) not in repr(config)
    assert str(REPO) not in repr(config) and str(reader.model_path.parent) not in repr(config)
    for key in ("worker", "runtime", "wasm", "model"):  # relative: the page's own address
        assert not config[key].startswith("/") and ":" not in config[key]


def test_the_browser_words_its_answers_with_the_servers_sentences(reader, runtime):
    facts = answer.facts(reader.card, BLANK_DRAWING)  # the canvas' facts: the worker's too
    assert facts["sentences"] == answer.SENTENCES
    assert facts["blank"] == BLANK_DRAWING
    assert facts["classes"] == list(reader.card.class_names)
    assert facts["sure_at"] == reader.card.sure_at and facts["model"] == "float32"


def test_without_the_runtime_the_server_reads_every_drawing(reader, runtime):
    (runtime / webruntime.SERVED[0]).unlink()
    assert browser.files(reader) == {}


def test_the_switch_turns_browser_reads_off(reader, runtime, monkeypatch):
    monkeypatch.setenv(browser.SWITCH, "0")
    assert browser.files(reader) == {} and browser.browser_reader(reader) is None


@pytest.fixture
def served(reader, runtime):
    """The route registered as the app does, on a bare FastAPI app; (client, table)."""
    table = browser.files(reader)
    with gr.Blocks() as demo:
        gr.Markdown("page")
    demo.server_app = Starlette()
    browser.serve(demo, reader)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own, whatever runs here
        for event in demo.extra_startup_events:
            pool.submit(asyncio.run, event()).result()
    with TestClient(demo.server_app) as client:
        yield client, table


def test_the_route_serves_each_file_by_name(served):
    client, table = served
    for name, path in table.items():
        reply = client.get(f"/hrnn-web/{name}")
        assert reply.status_code == 200, name
        assert reply.content == path.read_bytes()
        assert "content-disposition" not in reply.headers  # no file name from the server
    assert client.get("/hrnn-web/worker.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "name",
    ["app.py", "guard.py", "..%2Fapp.py", "..%2F..%2Fdemo%2Fapp.py", "vendor", "reader.js", ""],
)
def test_the_route_serves_nothing_beside_them(served, name):
    client, _ = served
    assert client.get(f"/hrnn-web/{name}").status_code == 404
    assert client.get(f"/hrnn-web/web/{name}").status_code == 404


def test_a_runtime_that_arrives_after_start_is_served_without_a_restart(served, runtime):
    """The fetch runs behind the page: files missing at start are 404 until they are in place."""
    client, table = served
    name = webruntime.SERVED[0]
    kept = (runtime / name).read_bytes()
    (runtime / name).unlink()
    assert client.get(f"/hrnn-web/{name}").status_code == 404
    assert client.get("/hrnn-web/worker.js").status_code == 404  # no runtime: nothing to run
    (runtime / name).write_bytes(kept)
    assert client.get(f"/hrnn-web/{name}").content == kept
    assert client.get("/hrnn-web/worker.js").status_code == 200
