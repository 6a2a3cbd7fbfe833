"""The shipped recipe end to end at toy scale, from a clean folder: train -> select ->
calibrate -> finish -> report, then python -m export on its weights. No MNIST test files are
there: validation decides everything, so only the report misses them. A kill between stages
is continued by --resume without redoing what was finished.

Toy scale: 8/8 hidden units, 256 training digits, one epoch, one thread.
"""

import contextlib
import io
import json
from pathlib import Path

import onnx
import pytest
import torch
from train_support import TINY_ARGS, one_thread, write_tiny_mnist, write_tiny_pendigits

import train.stages
from export.__main__ import main as export_main
from export.onnx_export import read_card
from train import data
from train.__main__ import main as train_main
from train.checkpoint import load_weights, save_weights
from train.model import HRNN, HRNNConfig

TINY = HRNNConfig(row_hidden=8, col_hidden=8)
SHIPPED_SETS = {
    "mnist_validation",
    "pendigits_validation",
    "mnist_fat_marker_validation",
    "mnist_box_validation",
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """MNIST training files only (no test split), pen strokes and tiny starting weights."""
    root = tmp_path_factory.mktemp("clean")
    checksums = write_tiny_mnist(root / "mnist", train=300, test=100)
    for test_file in (root / "mnist").glob("t10k-*"):
        test_file.unlink()
    torch.manual_seed(0)
    save_weights(HRNN(TINY), root / "start.pt")
    with pytest.MonkeyPatch.context() as patch, one_thread():
        for name, digest in checksums.items():
            patch.setitem(data.PAYLOAD_SHA256, name, digest)
        yield {
            "root": root,
            "mnist": root / "mnist",
            "pen": write_tiny_pendigits(root / "pen.txt"),
            "start": root / "start.pt",
        }


def shipped(clean: dict, run_dir: Path, *extra: str) -> tuple[int, str, str]:
    argv = [
        "--recipe", "shipped", *TINY_ARGS, "--threads", "1", "--epochs", "1",
        "--limit-train", "256", "--batch-size", "32", "--init-from", str(clean["start"]),
        "--data-dir", str(clean["mnist"]), "--pendigits", str(clean["pen"]), "--offline",
        "--run-dir", str(run_dir), *extra,
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = train_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def chain(clean) -> dict:
    run_dir = clean["root"] / "run"
    code, stdout, stderr = shipped(clean, run_dir)
    assert code == 0, stderr
    output = clean["root"] / "out" / "hrnn_mnist.onnx"
    output.parent.mkdir()
    argv = ["--weights", str(run_dir / "hrnn_mnist.pt"), "--output", str(output)]
    argv += ["--data-dir", str(clean["mnist"]), "--offline", "--quantize"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        exported = export_main(argv)
    assert exported == 0, err.getvalue()
    return {"run_dir": run_dir, "stdout": stdout, "output": output, "export": out.getvalue()}


def test_every_stage_ran_and_is_recorded(chain):
    stages = json.loads((chain["run_dir"] / "stages.json").read_text())
    assert list(stages) == list(train.stages.STAGES)
    assert stages["report"] == stages["report"] | {"test": "missing"}


def test_the_card_records_recipe_command_data_and_the_cautious_calibration(chain):
    card = json.loads((chain["run_dir"] / "hrnn_mnist.json").read_text())
    assert card["recipe"] == "shipped" and card["config"]["recipe"] == "shipped"
    assert card["command"].startswith("python -m train --recipe shipped ")
    assert card["config"]["box"] == 0.1 and card["config"]["bf16"] is True
    assert card["config"]["seed"] == 0 and card["device"].startswith("cpu")
    assert {entry["licence"] for entry in card["training_data"]} == {"CC BY-SA 3.0", "CC BY 4.0"}
    assert len(card["validation_data"]) == 2 and all(v["licence"] for v in card["validation_data"])
    assert card["selected_by"] == "validation accuracy" and card["finished"]
    assert set(card["calibration"]["validation"]) == SHIPPED_SETS
    assert "fitted_temperature" in card["calibration"]  # the cautious rule ran


def test_without_the_test_split_it_still_ships_and_the_report_says_test_is_missing(chain):
    card = json.loads((chain["run_dir"] / "hrnn_mnist.json").read_text())
    assert card["test_accuracy"] is None and "MNIST test set missing" in card["test"]
    assert "report: MNIST test set missing" in chain["stdout"]
    for row in json.loads((chain["run_dir"] / "metrics.json").read_text()):
        assert not [key for key in row if key.startswith("test")]
    assert "test" not in card["images"]


def test_the_export_carries_recipe_and_command_and_gates_on_validation(chain):
    card = read_card(onnx.load(str(chain["output"])))
    training = card["training"]
    assert training["recipe"] == "shipped"
    assert training["command"].startswith("python -m train --recipe shipped ")
    assert card["calibration"].items() >= training["calibration"].items()
    assert "MNIST validation split" in chain["export"] and "test set" not in chain["export"]


def test_a_run_killed_between_stages_resumes_without_training_again(clean, chain, monkeypatch):
    run_dir = clean["root"] / "killed"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.stages, "fit", killed)
    code, _, stderr = shipped(clean, run_dir)
    assert code == 130 and "--resume" in stderr
    assert list(json.loads((run_dir / "stages.json").read_text())) == ["train", "select"]
    assert not (run_dir / "hrnn_mnist.pt").exists()

    monkeypatch.undo()
    code, stdout, stderr = shipped(clean, run_dir, "--resume")
    assert code == 0, stderr
    assert "epoch 1 |" not in stdout and "calibration:" in stdout
    resumed = load_weights(run_dir / "hrnn_mnist.pt", TINY).state_dict()
    uninterrupted = load_weights(chain["run_dir"] / "hrnn_mnist.pt", TINY).state_dict()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    card = json.loads((run_dir / "hrnn_mnist.json").read_text())
    reference = json.loads((chain["run_dir"] / "hrnn_mnist.json").read_text())
    assert card["calibration"] == reference["calibration"]


def test_missing_starting_weights_are_refused_in_one_sentence(clean, tmp_path):
    code, _, stderr = shipped(clean, tmp_path / "run", "--init-from", str(tmp_path / "none.pt"))
    assert code == 2 and "none.pt" in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()
