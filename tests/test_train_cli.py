"""python -m train, in-process: what a run leaves behind, that it is reproducible and
resumable, and that every refusal is exit 2, one sentence, and leaves files alone.

Runs are tiny (8/8 hidden units, 256 training digits, 2 epochs, one thread): a few
seconds each, on the tiny MNIST written by tests/train_support.py.
"""

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch
from train_support import TINY_ARGS, one_thread, snapshot, write_tiny_mnist, write_tiny_pendigits

from train import data
from train import run as run_module
from train.__main__ import main
from train.checkpoint import load_weights, sha256_file
from train.config import make_config
from train.model import HRNNConfig
from train.run import run
from train.step import evaluate

TINY = HRNNConfig(row_hidden=8, col_hidden=8)
SMALL = ["--threads", "1", "--limit-train", "256", "--limit-test", "100", "--epochs", "2"]


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """A 300 + 100 digit MNIST folder, its checksums accepted while this module runs."""
    folder = tmp_path_factory.mktemp("mnist")
    checksums = write_tiny_mnist(folder, train=300, test=100)
    with pytest.MonkeyPatch.context() as patch, one_thread():
        for name, digest in checksums.items():
            patch.setitem(data.PAYLOAD_SHA256, name, digest)
        yield folder


def train(mnist: Path, run_dir: Path, *extra: str) -> tuple[int, str, str]:
    """main() on the tiny data; returns exit status, stdout and stderr."""
    argv = [*TINY_ARGS, *SMALL, "--data-dir", str(mnist), "--offline", "--run-dir", str(run_dir)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, *extra])
    return code, out.getvalue(), err.getvalue()


def refusal(result: tuple[int, str, str]) -> str:
    """A refused command: exit 2 and a single 'error: ...' line on stderr."""
    code, _, stderr = result
    assert code == 2, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    return stderr


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_weights(path, TINY).state_dict()


def same_weights(a: Path, b: Path) -> bool:
    first, second = weights(a), weights(b)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module")
def finished(mnist, tmp_path_factory) -> dict:
    """One whole 2-epoch run, seed 0, with --weights-out."""
    root = tmp_path_factory.mktemp("finished")
    run_dir, shipped = root / "run", root / "shipped.pt"
    code, stdout, stderr = train(mnist, run_dir, "--seed", "0", "--weights-out", str(shipped))
    assert code == 0, stderr
    return {"run_dir": run_dir, "stdout": stdout, "shipped": shipped, "mnist": mnist}


# --- what a run leaves behind ------------------------------------------------------------


def test_a_run_writes_its_files(finished):
    names = {p.name for p in finished["run_dir"].iterdir()}
    assert names == {
        "config.json",
        "metrics.json",
        "checkpoint.pt",
        "hrnn_mnist.pt",
        "hrnn_mnist.json",
        "curves.png",
        "confusion_matrix.png",
        "confusion_matrix.json",
        "stages.json",
    }
    for png in ("curves.png", "confusion_matrix.png"):
        assert (finished["run_dir"] / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "world size 1" in finished["stdout"]
    assert "data: 256 train, 0 val images" in finished["stdout"]
    assert "report: test loss" in finished["stdout"]


def test_config_and_metrics(finished):
    config = json.loads((finished["run_dir"] / "config.json").read_text())
    assert config["command"].startswith("python -m train ")
    hparams = config["hparams"]
    assert (hparams["row_hidden"], hparams["col_hidden"]) == (8, 8)
    assert hparams["recipe"] == "seed" and hparams["epochs"] == 2 and hparams["seed"] == 0
    assert "run_dir" not in hparams and "device" not in hparams  # where and how: not the result
    metrics = json.loads((finished["run_dir"] / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics] == [1, 2]
    for row in metrics:
        assert {"train_loss", "train_acc", "train_seconds"} <= set(row)
        assert "val_acc" not in row  # the seed recipe has no validation set
        assert not [key for key in row if key.startswith("test")]  # test decides nothing


def test_the_card_describes_the_weights(finished):
    run_dir = finished["run_dir"]
    card = json.loads((run_dir / "hrnn_mnist.json").read_text())
    assert card["command"].startswith("python -m train ") and "--seed 0" in card["command"]
    assert card["weights_sha256"] == sha256_file(run_dir / "hrnn_mnist.pt")
    assert card["data_sha256"] == {name: data.PAYLOAD_SHA256[name] for name in card["data_sha256"]}
    assert len(card["data_sha256"]) == 4
    assert card["model_config"] == TINY.to_dict() and card["world_size"] == 1
    assert card["config"]["epochs"] == 2 and card["selected_epoch"] == 2
    assert card["images"] == {"train": 256, "val": 0, "test": 100}
    assert card["training_data"] == [
        {"name": "MNIST training set (LeCun & Cortes)", "licence": "CC BY-SA 3.0", "samples": 256}
    ]
    assert "calibration" not in card  # nothing held out: nothing to calibrate on
    assert card["recipe"] == "seed" and "finished" in card and card["device"].startswith("cpu")
    assert set(card["stage_seconds"]) == {"train", "select", "calibrate"}
    stages = json.loads((run_dir / "stages.json").read_text())
    assert list(stages) == ["train", "select", "calibrate", "finish", "report"]
    assert stages["report"]["test_accuracy"] == pytest.approx(card["test_accuracy"])
    matrix = json.loads((run_dir / "confusion_matrix.json").read_text())["matrix"]
    correct = sum(matrix[i][i] for i in range(10))
    assert sum(map(sum, matrix)) == 100
    assert card["test_errors"] == 100 - correct
    assert card["test_accuracy"] == pytest.approx(correct / 100)


def test_the_weights_score_what_the_card_says(finished):
    images, labels = data.load_split("test", finished["mnist"], download=False)
    model = load_weights(finished["run_dir"] / "hrnn_mnist.pt", TINY)
    _, accuracy, _ = evaluate(model, torch.tensor(images), torch.tensor(labels))
    card = json.loads((finished["run_dir"] / "hrnn_mnist.json").read_text())
    assert accuracy == pytest.approx(card["test_accuracy"])


def test_weights_out_gets_the_weights_and_the_card(finished):
    shipped = finished["shipped"]
    assert same_weights(shipped, finished["run_dir"] / "hrnn_mnist.pt")
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card == json.loads((finished["run_dir"] / "hrnn_mnist.json").read_text())


def test_the_same_seed_gives_the_same_weights(finished, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    assert train(finished["mnist"], again, "--seed", "0")[0] == 0
    assert train(finished["mnist"], other, "--seed", "1")[0] == 0
    assert same_weights(again / "hrnn_mnist.pt", finished["run_dir"] / "hrnn_mnist.pt")
    assert not same_weights(other / "hrnn_mnist.pt", finished["run_dir"] / "hrnn_mnist.pt")


def test_the_card_counts_the_images_really_used(mnist, tmp_path):
    """A recipe with a validation set, on a subset: the card must report the real split."""
    config = make_config(
        "seed",
        epochs=1,
        val_size=100,
        run_dir=tmp_path / "run",
        device="cpu",
        data_dir=str(mnist),
        download=False,
        limit_train=256,
        limit_test=50,
        progress=False,
        row_hidden=TINY.row_hidden,
        col_hidden=TINY.col_hidden,
    )
    with contextlib.redirect_stdout(io.StringIO()) as out:
        card = run(config)
    # 300 training digits: 100 carved off for validation, limited to 256 // 4 = 64.
    assert "data: 200 train, 64 val images" in out.getvalue()
    assert card["images"] == {"train": 200, "val": 64, "test": 50}
    assert card["selected_by"] == "validation accuracy" and card["val_accuracy"] is not None


def test_the_writers_recipe_trains_on_strokes_and_calibrates_on_held_out_writers(
    finished, tmp_path
):
    strokes = write_tiny_pendigits(tmp_path / "pen.txt")
    code, stdout, stderr = train(
        finished["mnist"], tmp_path / "run", "--recipe", "writers", "--epochs", "1",
        "--pendigits", str(strokes), "--init-from", str(finished["shipped"]), "--batch-size", "32",
    )  # fmt: skip
    assert code == 0, stderr
    # 10 writers: 4 held out for the table, 4 validate, 2 train (20 digits, 2 renders each).
    assert "20 pen digits x 2 renders an epoch" in stdout
    card = json.loads((tmp_path / "run" / "hrnn_mnist.json").read_text())
    names = [entry["name"] for entry in card["training_data"]]
    assert names[0].startswith("MNIST") and names[1].startswith("UCI pendigits")
    assert (
        card["training_data"][1] | {"writers": 2, "samples": 20, "licence": "CC BY 4.0"}
        == (card["training_data"][1])
    )
    assert card["images"]["val_pen"] == 40 and card["val_pen_accuracy"] is not None
    calibration = card["calibration"]
    assert calibration["temperature"] > 0 and 0 <= calibration["sure_at"] < 1
    assert set(calibration["validation"]) == {"val", "val_pen"}
    assert card["config"]["init_from"] == str(finished["shipped"])


def test_a_missing_pendigits_file_is_refused(finished, tmp_path):
    message = refusal(
        train(finished["mnist"], tmp_path / "run", "--recipe", "writers",
              "--pendigits", str(tmp_path / "nowhere"), "--init-from", str(finished["shipped"]))
    )  # fmt: skip
    assert "no pendigits file" in message


# --- resuming ----------------------------------------------------------------------------


def test_an_interrupted_run_resumes_to_the_same_weights(finished, tmp_path, monkeypatch):
    real_bar = run_module.progress_bar

    def interrupted_in_epoch_2(total, description, enabled):
        if description.startswith("epoch 2/"):
            raise KeyboardInterrupt
        return real_bar(total, description, enabled)

    run_dir = tmp_path / "run"
    monkeypatch.setattr(run_module, "progress_bar", interrupted_in_epoch_2)
    code, _, stderr = train(finished["mnist"], run_dir, "--seed", "0")
    assert code == 130 and "--resume continues" in stderr
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (run_dir / "hrnn_mnist.pt").exists()

    monkeypatch.setattr(run_module, "progress_bar", real_bar)
    code, stdout, stderr = train(finished["mnist"], run_dir, "--seed", "0", "--resume")
    assert code == 0, stderr
    assert f"resuming {run_dir} after epoch 1" in stdout
    assert same_weights(run_dir / "hrnn_mnist.pt", finished["run_dir"] / "hrnn_mnist.pt")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics] == [1, 2]


def test_resuming_a_finished_run_changes_no_weights(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished["run_dir"], run_dir)
    code, stdout, stderr = train(finished["mnist"], run_dir, "--seed", "0", "--resume")
    assert code == 0, stderr
    assert "epoch 1 |" not in stdout and "epoch 2 |" not in stdout  # nothing retrained
    assert same_weights(run_dir / "hrnn_mnist.pt", finished["run_dir"] / "hrnn_mnist.pt")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--lr", "0.01"], "lr"),
        (["--epochs", "3"], "epochs"),
        (["--seed", "1"], "seed"),
        (["--limit-train", "128"], "limit_train"),
        (["--row-hidden", "16"], "row_hidden"),
    ],
)
def test_resume_with_other_settings_is_refused_and_writes_nothing(
    finished, tmp_path, change, named
):
    run_dir = tmp_path / "run"
    shutil.copytree(finished["run_dir"], run_dir)
    before = snapshot(run_dir)
    message = refusal(train(finished["mnist"], run_dir, "--seed", "0", "--resume", *change))
    assert "other settings" in message and named in message
    assert snapshot(run_dir) == before


def test_resume_without_a_checkpoint_is_refused(finished, tmp_path):
    message = refusal(train(finished["mnist"], tmp_path / "never-ran", "--resume"))
    assert "checkpoint.pt does not exist" in message


def test_a_run_folder_holding_a_run_is_not_overwritten(finished, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished["run_dir"], run_dir)
    before = snapshot(run_dir)
    message = refusal(train(finished["mnist"], run_dir, "--seed", "0"))
    assert "already holds a run" in message and "--resume" in message
    assert snapshot(run_dir) == before  # bytes and mtimes of every file


# --- refusals before any training --------------------------------------------------------


@pytest.mark.parametrize("device", ["tpu9", "cuda:x", "meta"])
def test_an_unknown_device_is_refused(mnist, tmp_path, device):
    message = refusal(train(mnist, tmp_path / "run", "--device", device))
    assert repr(device) in message
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_refused(mnist, tmp_path):
    message = refusal(train(mnist, tmp_path / "run", "--device", "cuda"))
    assert "no CUDA GPU" in message
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_where_there_is_none_is_refused(mnist, tmp_path):
    assert "MPS is not available" in refusal(train(mnist, tmp_path / "run", "--device", "mps"))


@pytest.mark.parametrize("flag", ["--box", "--marker"])
@pytest.mark.parametrize("share", ["-0.1", "1.5"])
def test_a_share_of_digits_outside_0_to_1_is_refused(mnist, tmp_path, flag, share):
    message = refusal(train(mnist, tmp_path / "run", flag, share))
    assert f"{flag} is a share, from 0 to 1" in message
    assert not (tmp_path / "run").exists()


def test_missing_data_offline_is_refused(tmp_path):
    message = refusal(train(tmp_path / "no-mnist", tmp_path / "run"))
    assert str(tmp_path / "no-mnist") in message and "HRNN_MNIST_DATA" in message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("train-images-idx3-ubyte.gz", lambda raw: raw[:-100]),
        ("train-labels-idx1-ubyte.gz", lambda raw: raw[: len(raw) // 2]),
    ],
    ids=["truncated-images", "cut-labels"],
)
def test_corrupt_data_is_refused(mnist, tmp_path, name, damage):
    folder = tmp_path / "mnist"
    shutil.copytree(mnist, folder)
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    message = refusal(train(folder, tmp_path / "run"))
    assert name in message
    assert not (tmp_path / "run").exists()


def test_a_corrupt_test_file_only_keeps_the_report_from_reporting(mnist, tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(mnist, folder)
    test_images = folder / "t10k-images-idx3-ubyte"
    test_images.write_bytes(test_images.read_bytes()[:-100])
    code, stdout, stderr = train(folder, tmp_path / "run")
    assert code == 0, stderr
    card = json.loads((tmp_path / "run" / "hrnn_mnist.json").read_text())
    assert card["test_accuracy"] is None and "t10k-images-idx3-ubyte" in card["test"]
    assert "report: MNIST test set missing" in stdout


def test_a_batch_larger_than_the_data_is_refused(mnist, tmp_path):
    message = refusal(train(mnist, tmp_path / "run", "--batch-size", "512"))
    assert "512" in message and "256" in message
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.parametrize(
    "flag", ["--epochs", "--batch-size", "--row-hidden", "--limit-train", "--limit-test"]
)
def test_sizes_below_one_are_refused(mnist, tmp_path, flag):
    message = refusal(train(mnist, tmp_path / "run", flag, "0"))
    assert "at least 1" in message


def test_weights_out_into_a_missing_folder_is_refused(mnist, tmp_path):
    message = refusal(train(mnist, tmp_path / "run", "--weights-out", str(tmp_path / "no/w.pt")))
    assert "--weights-out folder" in message
    assert not (tmp_path / "run").exists()
