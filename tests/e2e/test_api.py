"""The live app through gradio_client, as a script would use it: /classify takes an image file
and answers exactly what the CLI (`python -m demo.predict`) answers for the same file."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from demo.app import EMPTY_UPLOAD
from tools.paths import REPO

N_SAMPLES = 12


@pytest.fixture(scope="module")
def client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


@pytest.fixture(scope="module")
def mnist_pngs(tmp_path_factory):
    sample = np.load(REPO / "tests" / "data" / "mnist_test_sample.npz")
    folder = tmp_path_factory.mktemp("mnist_png")
    paths = []
    for k in range(N_SAMPLES):
        path = folder / f"mnist_{k}_label{int(sample['labels'][k])}.png"
        Image.fromarray(sample["images"][k]).save(path)
        paths.append(path)
    return paths, sample["labels"][:N_SAMPLES]


def classify(client, path, **kwargs):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/classify", **kwargs)


def test_classify_is_the_only_public_endpoint(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/classify"]


def test_api_predictions_match_the_cli(client, mnist_pngs):
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
        label, seen, belief, status = classify(client, path)
        assert label["label"] == want["label"], path.name
        got = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert len(got) == 3  # the page asks for the top 3
        for name, p in got.items():
            assert p == pytest.approx(want["probabilities"][name], abs=1e-5)
        assert status.startswith(f"**{want['label']}**")
        assert Image.open(seen).size == (224, 224) and Image.open(belief).mode == "RGB"


def test_api_reads_real_mnist_digits(client, mnist_pngs, expect_correct_digits):
    paths, labels = mnist_pngs
    got = [classify(client, path)[0]["label"] for path in paths]
    assert got == [str(int(label)) for label in labels]


def test_blank_image_is_the_empty_state(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 0).save(blank)
    label, seen, belief, status = classify(client, blank)
    assert (label, seen, belief, status) == ({}, None, None, EMPTY_UPLOAD)  # {}: Label's None


def test_corrupt_file_is_a_message_not_an_error(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    label, _, _, status = classify(client, bad)
    assert label == {} and status.startswith("**Cannot read this input:**")


def test_int8_model_when_shipped(client, mnist_pngs):
    from demo.classifier import INT8_MODEL

    if not INT8_MODEL.is_file():
        pytest.skip("no int8 model shipped")
    label, _, _, status = classify(client, mnist_pngs[0][0], precision="int8")
    assert label["label"] and "int8 model" in status
