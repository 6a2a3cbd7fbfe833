"""Reads in the browser agree with the server's: the same 28x28 and probabilities within 1e-4.

The page runs the float .onnx with onnxruntime-web and demo/web/*.js, a JavaScript twin of
the server's drawing path. Each drawing here is read by the page, then its ink (the PNG the
server would have got) is read by the server's own read_drawing; the two answers must agree.
"""

import base64

import httpx
import numpy as np
import pytest

from bench.paths import REPO
from demo import webruntime
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


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.load()


@pytest.fixture
def reading_page(page):
    if not webruntime.is_ready():
        pytest.skip("onnxruntime-web is not fetched: run python -m demo.webruntime")
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
    # the same 28x28: rounded to bytes, no pixel more than one level apart (a float32 rounding)
    assert np.abs(_grid(here["pixels"]) - _grid(there["pixels"])).max() <= 1
    if shape.endswith("small"):  # drawn small with the same brush: strokes wider than MNIST's,
        card = models.get(None).card  # so the page must warm the temperature as the server does
        pixels = _grid(there["pixels"]).reshape(1, 28, 28).astype(np.float32) / np.float32(255)
        assert card.wide_power > 0 and card.temperatures(pixels)[0] > card.temperature
    assert np.abs(_grid(here["rows"]) - _grid(there["rows"])).max() <= 1


def test_the_int8_model_is_read_on_the_server(reading_page):
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


def test_the_page_serves_the_reader_files_and_nothing_beside_them(reading_page, live_app):
    urls = reading_page.evaluate(
        """(ours) => performance.getEntriesByType('resource').map(e => e.name)
             .concat(document.querySelector('#hrnn-canvas .hrnn-ink').hrnnWorkerFiles
                     .map(([url]) => url))
             .filter(u => decodeURIComponent(u).includes(ours))""",
        f"/gradio_api/file={REPO / 'demo'}/",  # the repo's files, not Gradio's cached examples
    )
    names = sorted(url.rsplit("/", 1)[-1] for url in urls)
    modules = ["worker.js", "reader.js", "preprocess.js", "ink.js", "planes.js", "width.js"]
    runtime = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm.gz"]
    assert names == sorted([*modules, *runtime, "hrnn_mnist.onnx"])
    with httpx.Client(base_url=live_app.url) as client:
        for url in urls:
            assert client.get(url).status_code == 200
        beside = [u.replace("reader.js", "../app.py") for u in urls if u.endswith("reader.js")]
        beside += [u.replace("hrnn_mnist.onnx", "guard.py") for u in urls if "hrnn_mnist" in u]
        for url in beside:
            assert client.get(url).status_code == 403


def test_a_runtime_that_cannot_load_leaves_the_server_reading(browser, live_app):
    # the runtime's WebAssembly blocked (an old proxy, a flaky phone network): nothing is lost
    context = browser.new_context(**DESKTOP)
    context.route("**/*.wasm.gz", lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto(live_app.url)
        page.wait_for_selector(f'{INK}[data-reader="failed"]', timeout=60_000)
        draw(page, DIGITS["7"])
        got = wait_answer(page)
        assert page.locator(INK).get_attribute("data-via") == "server"
        assert got["state"] == "reading" and "float32 model" in got["message"]
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
