"""The live app through gradio_client, as a script would use it: /read takes an image file and
answers exactly the CLI's JSON record (`python -m demo.predict`), a digit's or a number's;
/classify answers the same plus what the page draws; blank and broken files get the empty
state or one sentence."""

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


def read(client, path, **kwargs) -> dict:
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/read", **kwargs)


def test_classify_and_read_are_the_only_public_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/classify", "/read"]


def test_read_names_its_json_answer(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    returns = endpoints["/read"]["returns"]
    assert [(r["label"], r["component"]) for r in returns] == [("reading", "Json")]
    assert [p["parameter_name"] for p in endpoints["/read"]["parameters"]] == [
        "upload",
        "precision",
    ]
    said = client.view_api(print_info=False, return_format="str")
    assert "[Json] reading" in said and "[Html] answer" in said


def test_read_answers_a_number_as_the_cli_does(client, mnist_pngs, tmp_path):
    paths, labels = mnist_pngs
    row = np.concatenate(
        [np.pad(np.asarray(Image.open(p)), ((10, 10), (6, 6))) for p in paths[:4]], axis=1
    )
    number = tmp_path / "number.png"
    Image.fromarray(row).resize((row.shape[1] * 4, row.shape[0] * 4)).save(number)
    cli = subprocess.run(
        [sys.executable, "-m", "demo.predict", str(number)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    want = json.loads(cli.stdout)
    got = read(client, number)
    assert got == {k: v for k, v in want.items() if k != "file"}
    assert got["number"] == "".join(str(int(label)) for label in labels[:4])
    page = classify(client, number)
    assert page["state"] == "reading" and page["number"] == got["number"]
    assert page["digits"] == got["digits"]


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
        said = f"Read as {want['label']} (" if want["sure"] else f"% for {want['label']}: "
        assert said in got["message"], (path.name, got["message"])
        assert read(client, path) == {k: v for k, v in want.items() if k != "file"}


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
