"""Reads in the browser are the server's reads: the same graph on the same ink plane.

The page hands its ink plane to the shipped reader graph in onnxruntime-web; the server reads
the PNG of the same ink with onnxruntime. The two answers must agree: probabilities within
1e-4, the same sentence. Without a runtime, for int8, or when the runtime cannot load, the
server reads, and a drawing read in the browser costs the server no request at all.
"""

import base64
import json

import httpx
import numpy as np
import pytest

from demo import browser as web
from demo.app import Models, read_drawing
from tests.support.pagedriver import DESKTOP, DIGITS, DRAW_ANSWER, INK, clear, draw, wait_answer

PROBABILITY_TOLERANCE = 1e-4
# The page's digits, and the same strokes drawn small in a corner (wider than MNIST's strokes for
# their size: the card's warmer temperature), large, and with a far speck.
SHAPES = {
    **{f"{digit}": strokes for digit, strokes in DIGITS.items()},
    **{
        f"{digit} small": [[(0.3 * x - 0.5, 0.3 * y + 0.5) for x, y in s] for s in strokes]
        for digit, strokes in DIGITS.items()
    },
    "7 large": [[(1.3 * x, 1.3 * y) for x, y in s] for s in DIGITS["7"]],
    "1 and a speck": [*DIGITS["1"], [(0.85, 0.85), (0.86, 0.86)]],
    "a dot": [[(0.0, 0.0), (0.01, 0.01)]],
}
# Every event call the page makes goes through one of these (queued or direct).
CALLS = ("/queue/join", "/run/", "/call/")


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.load()


@pytest.fixture(scope="module")
def reads_here(models) -> None:
    """Skips unless this checkout can read in the browser: a fetched runtime, a reader graph."""
    if not web.files(models.get(None)):
        pytest.skip("the page reads on the server here (no runtime fetched, or no reader graph)")


@pytest.fixture
def reading_page(reads_here, page):
    assert page.locator(INK).get_attribute("data-reader") == "ready"
    return page


def _grid(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.uint8).astype(int)


def _read_in_page(page, strokes) -> tuple[dict, str]:
    clear(page)
    draw(page, strokes)
    wait_answer(page)
    assert page.locator(INK).get_attribute("data-via") == "browser"
    answer = page.locator(DRAW_ANSWER).evaluate("box => box.hrnnAnswer")
    return answer, page.locator(INK).evaluate("root => root.hrnnInk()")


def _calls(page) -> list[str]:
    """Every event call the page makes from now on (URLs), as the server would count them."""
    calls: list[str] = []
    page.on(
        "request",
        lambda r: (
            calls.append(r.url) if r.method == "POST" and any(c in r.url for c in CALLS) else None
        ),  # fmt: skip
    )
    return calls


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_browser_reads_a_drawing_as_the_server_does(reading_page, models, shape):
    here, ink = _read_in_page(reading_page, SHAPES[shape])
    there = read_drawing({"ink": ink, "n": here["for"]}, models)
    assert here["state"] == there["state"] and here["message"] == there["message"]
    if there["state"] != "reading":
        return
    for key in ("label", "sure", "runner_up", "settled_row", "classes", "model", "rows_shape"):
        assert here[key] == there[key], key
    assert [name for name, _ in here["top"]] == [name for name, _ in there["top"]]
    for name, p in there["probabilities"].items():
        assert here["probabilities"][name] == pytest.approx(p, abs=PROBABILITY_TOLERANCE)
    # the same 28x28 seen: rounded to bytes, no pixel more than one level apart
    assert np.abs(_grid(here["pixels"]) - _grid(there["pixels"])).max() <= 1
    assert np.abs(_grid(here["rows"]) - _grid(there["rows"])).max() <= 1


def test_strokes_read_in_the_browser_send_the_server_nothing(reading_page):
    calls = _calls(reading_page)
    for k in range(6):
        clear(reading_page)
        draw(reading_page, DIGITS["1704"[k % 4]], pause_ms=40)  # slow: guesses while drawing
        assert wait_answer(reading_page)["state"] == "reading"
        assert reading_page.locator(INK).get_attribute("data-via") == "browser"
    assert calls == []


def test_the_int8_model_is_read_on_the_server(reading_page):
    if "int8" not in Models.load().names:
        pytest.skip("no int8 model shipped")
    reading_page.locator("#hrnn-model").get_by_label("int8").check()
    clear(reading_page)
    draw(reading_page, DIGITS["7"])
    got = wait_answer(reading_page)
    assert reading_page.locator(INK).get_attribute("data-via") == "server"
    assert "int8 model" in got["message"]
    reading_page.locator("#hrnn-model").get_by_label("float32").check()
    wait_answer(reading_page)  # the switch back re-reads the ink, here in the browser
    assert reading_page.locator(INK).get_attribute("data-via") == "browser"
    assert "float32 model" in wait_answer(reading_page)["message"]


def test_the_page_fetches_its_reader_by_route_and_never_sees_a_server_path(reading_page, live_app):
    fetched = reading_page.evaluate(
        """() => performance.getEntriesByType('resource').map(e => e.name)
             .concat(document.querySelector('#hrnn-canvas .hrnn-ink').hrnnWorkerFiles
                     .map(([url]) => url))"""
    )
    ours = sorted({url.rsplit("/", 1)[-1] for url in fetched if f"/{web.ROUTE}/" in url})
    runtime = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm.gz"]
    assert ours == sorted([*web.MODULES, *runtime, "hrnn_mnist.onnx"])
    assert not [url for url in fetched if "/file=" in url and "/demo/" in url]
    with httpx.Client(base_url=live_app.url) as client:
        config = client.get("config").text
        assert f'"{web.ROUTE}/worker.js"' in config
        for where in (str(web.WEB), str(web.WEB.parent)):
            assert where not in config and where not in reading_page.content()
        for name in ours:
            assert client.get(f"{web.ROUTE}/{name}").status_code == 200
        for name in ("app.py", "guard.py", "hrnn_mnist_int8.onnx", "..%2Fapp.py", "vendor"):
            assert client.get(f"{web.ROUTE}/{name}").status_code == 404


def test_a_runtime_that_cannot_load_leaves_the_server_reading(reads_here, browser, live_app):
    # the runtime's WebAssembly blocked (an old proxy, a flaky phone network): nothing is lost
    context = browser.new_context(**DESKTOP)
    context.route("**/*.wasm.gz", lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto(live_app.url)
        page.wait_for_selector(f'{INK}[data-reader="failed"]', timeout=60_000)
        calls = _calls(page)
        draw(page, DIGITS["7"])
        got = wait_answer(page)
        assert page.locator(INK).get_attribute("data-via") == "server"
        assert got["state"] == "reading" and "float32 model" in got["message"]
        assert calls  # the server was asked
    finally:
        context.close()


def test_a_late_answer_to_older_ink_never_replaces_a_newer_one(page):
    # answers reach the box by two roads (worker and server) and may cross: the box keeps the
    # newest ink's. Replayed here through the page's own answer event.
    late = """(value) => document.dispatchEvent(new CustomEvent('hrnn-answer',
        { detail: { answer: 'hrnn-draw-answer', value } }))"""
    draw(page, DIGITS["7"])
    wait_answer(page)
    seven = page.locator(DRAW_ANSWER).evaluate("box => box.hrnnAnswer")
    draw(page, DIGITS["1"])  # a second stroke: a newer ink, a newer answer
    newer = wait_answer(page)
    page.evaluate(late, {**seven, "message": "late"})
    assert page.locator(DRAW_ANSWER).evaluate("box => box.hrnnAnswer.message") == newer["message"]
    cleared = clear(page)
    page.evaluate(late, {**seven, "message": "late"})
    assert wait_answer(page) == cleared and cleared["state"] == "empty"


def test_the_page_config_reveals_no_server_path(live_app):
    with httpx.Client(base_url=live_app.url) as client:
        config = json.loads(client.get("config").text)
    text = json.dumps(config)
    assert str(web.WEB.parent) not in text
