"""The live app through gradio_client, as a script would use it: /classify takes an image file
and answers what the CLI (`python -m demo.predict`) answers for the same file, plus the
numbers the page draws; blank and broken files get the empty state or one sentence."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bench.paths import REPO, SAMPLE
from demo.app import BLANK_UPLOAD
from demo.guard import UNKNOWN_MODEL
from demo.reader import INT8_MODEL

N_SAMPLES = 12


@pytest.fixture(scope="module")
def client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


@pytest.fixture(scope="module")
def mnist_pngs(tmp_path_factory):
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"][:N_SAMPLES], sample["labels"][:N_SAMPLES]
    folder = tmp_path_factory.mktemp("mnist_png")
    paths = []
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = folder / f"mnist_{k}_label{int(label)}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths, labels


def classify(client, path, **kwargs) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/classify", **kwargs)


def test_classify_is_the_only_public_endpoint(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/classify"]


def test_api_answers_match_the_cli(client, mnist_pngs):
    paths, _ = mnist_pngs
    cli = subprocess.run(
        [sys.executable, "-m", "demo.predict", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    expected = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    assert len(expected) == len(paths)
    for path, want in zip(paths, expected, strict=True):
        got = classify(client, path)
        assert got["state"] == "reading", got.get("message")
        for key in ("label", "confidence", "sure", "probabilities"):
            assert got[key] == want[key], (path.name, key)
        said = f"Read as {want['label']} (" if want["sure"] else f"Not sure: maybe {want['label']},"
        assert got["message"].startswith(said), (path.name, got["message"])


def test_api_reads_real_mnist_digits(client, mnist_pngs, expect_correct_digits):
    paths, labels = mnist_pngs
    got = [classify(client, path)["label"] for path in paths]
    assert got == [str(int(label)) for label in labels]


def test_a_blank_image_is_the_empty_state_with_a_sentence(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 0).save(blank)
    assert classify(client, blank) == {"state": "empty", "message": BLANK_UPLOAD, "for": None}


def test_a_corrupt_file_is_a_sentence_not_an_error(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    got = classify(client, bad)
    assert got["state"] == "error" and got["message"].startswith("Cannot read this input:")


def test_the_int8_model_when_shipped(client, mnist_pngs):
    if not INT8_MODEL.is_file():
        pytest.skip("no int8 model shipped")
    got = classify(client, mnist_pngs[0][0], precision="int8")
    assert got["model"] == "int8" and "int8 model" in got["message"]


def test_an_unknown_model_is_refused_in_a_sentence(client, mnist_pngs):
    got = classify(client, mnist_pngs[0][0], precision="float64")
    assert got == {"state": "error", "message": UNKNOWN_MODEL, "for": None}
