"""python -m train.select_best: ship the run with the best validation accuracy; the test
set plays no part in the choice. Runs here are folders with a card and a weights file."""

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from train.select_best import main


def make_run(folder: Path, val: float | None, test: float, card: bool = True) -> Path:
    folder.mkdir(parents=True)
    weights = f"weights of {folder.name}".encode()
    (folder / "hrnn_mnist.pt").write_bytes(weights)
    if card:
        content = {"val_accuracy": val, "test_accuracy": test, "run": folder.name}
        content["weights_sha256"] = hashlib.sha256(weights).hexdigest()
        (folder / "hrnn_mnist.json").write_text(json.dumps(content))
    return folder


def select(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def shipped(tmp_path) -> Path:
    (tmp_path / "weights").mkdir()
    return tmp_path / "weights" / "hrnn_mnist.pt"


def test_picks_the_best_validation_accuracy_not_the_best_test(tmp_path, shipped):
    by_val = make_run(tmp_path / "a", val=0.995, test=0.990)
    by_test = make_run(tmp_path / "b", val=0.990, test=0.999)
    code, out, _ = select(by_test, by_val, "--weights-out", shipped)
    assert code == 0
    assert shipped.read_bytes() == b"weights of a"
    assert json.loads(shipped.with_suffix(".json").read_text())["run"] == "a"
    assert f"shipped {by_val}" in out


def test_a_run_without_a_card_is_an_error_and_nothing_is_shipped(tmp_path, shipped):
    good = make_run(tmp_path / "a", val=0.99, test=0.99)
    unfinished = make_run(tmp_path / "b", val=None, test=0.0, card=False)
    code, _, err = select(good, unfinished, "--weights-out", shipped)
    assert code == 2
    assert f"{unfinished} has no hrnn_mnist.json" in err
    assert not shipped.exists() and not shipped.with_suffix(".json").exists()


def test_a_run_without_validation_cannot_be_chosen_from(tmp_path, shipped):
    seed_recipe = make_run(tmp_path / "seed", val=None, test=0.99)
    code, _, err = select(seed_recipe, "--weights-out", shipped)
    assert code == 2 and "no validation accuracy" in err
    assert not shipped.exists()


def test_weights_that_do_not_match_their_card_are_not_shipped(tmp_path, shipped):
    run = make_run(tmp_path / "a", val=0.99, test=0.99)
    (run / "hrnn_mnist.pt").write_bytes(b"weights swapped after training")
    code, _, err = select(run, "--weights-out", shipped)
    assert code == 2 and "does not match its card" in err
    assert not shipped.exists()


def test_a_missing_output_folder_is_an_error(tmp_path):
    run = make_run(tmp_path / "a", val=0.99, test=0.99)
    code, _, err = select(run, "--weights-out", tmp_path / "nowhere" / "w.pt")
    assert code == 2 and "does not exist" in err
