"""What the page is told for reads in the browser: the card's facts, and only these files served."""

import pytest

from demo import browser, webruntime
from demo.app import BLANK_DRAWING, CANNOT
from demo.reader import MOSTLY_INK
from demo.reader import Reader as Classifier

READER_MODULES = ("ink.js", "planes.js", "preprocess.js", "reader.js", "width.js", "worker.js")


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


@pytest.fixture
def served(monkeypatch) -> list:
    """What the page asks Gradio to serve, through its documented gr.set_static_paths."""
    paths: list = []
    monkeypatch.setattr(browser.gr, "set_static_paths", lambda given: paths.extend(given))
    return paths


@pytest.fixture
def runtime(tmp_path, monkeypatch, served):
    """A fetched runtime (stand-in files) in a folder of its own."""
    folder = tmp_path / "onnxruntime-web"
    folder.mkdir()
    for name in webruntime.SERVED:
        (folder / name).write_bytes(b"x")
    monkeypatch.setattr(webruntime, "runtime_dir", lambda: folder)
    monkeypatch.delenv(browser.SWITCH, raising=False)
    return folder


def test_the_page_gets_the_cards_facts_for_its_reader(classifier, runtime):
    config = browser.browser_reader(classifier, BLANK_DRAWING, CANNOT)
    card = classifier.card
    assert config["card"] == {
        "precision": card.precision,
        "class_names": list(card.class_names),
        "image_size": card.image_size,
        "digit_box": card.digit_box,
        "pixel_scale": card.pixel_scale,
        "temperature": card.temperature,
        "wide_from": card.wide_from,
        "wide_power": card.wide_power,
        "sure_at": card.sure_at,
        "approximate": False,
        "input": card.input_name,
    }
    assert config["card"]["temperature"] != 1.0  # the calibrated temperature, not a default
    messages = {"blank": BLANK_DRAWING, "cannot": CANNOT, "mostly_ink": MOSTLY_INK}
    assert config["messages"] == messages


def test_only_the_reader_the_runtime_and_the_model_are_served(classifier, runtime, served):
    config = browser.browser_reader(classifier, BLANK_DRAWING, CANNOT)
    modules = {str(browser.WEB / name) for name in READER_MODULES}
    model = str(classifier.model_path.resolve())
    assert {str(path) for path in served} == modules | {str(runtime), model}
    for key, path in [
        ("worker", browser.WORKER),
        ("runtime", runtime / "ort.wasm.min.mjs"),
        ("wasm", runtime / "ort-wasm-simd-threaded.wasm.gz"),
        ("model", classifier.model_path),
    ]:
        assert config[key] == f"gradio_api/file={path.resolve()}"


def test_without_the_runtime_the_server_reads_every_drawing(classifier, runtime, served):
    (runtime / webruntime.SERVED[0]).unlink()
    assert browser.browser_reader(classifier, BLANK_DRAWING, CANNOT) is None
    assert served == []  # nothing extra is served either


def test_the_switch_turns_browser_reads_off(classifier, runtime, monkeypatch):
    monkeypatch.setenv(browser.SWITCH, "0")
    assert browser.browser_reader(classifier, BLANK_DRAWING, CANNOT) is None
    fetched = []
    monkeypatch.setattr(webruntime, "ensure", lambda **kwargs: fetched.append(kwargs))
    browser.prepare()
    assert fetched == []  # and nothing is fetched at startup


def test_a_failed_fetch_at_startup_is_a_warning_not_a_crash(monkeypatch, caplog):
    def unavailable(**_):
        raise webruntime.RuntimeUnavailable("could not download x: offline")

    monkeypatch.delenv(browser.SWITCH, raising=False)
    monkeypatch.setattr(webruntime, "ensure", unavailable)
    browser.prepare()
    assert "drawings will be read on the server: could not download x: offline" in caplog.text
