"""train.checkpoint: writes are atomic, loads are safe, and every bad file is one clear
CheckpointError sentence that names the file."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from train_support import one_thread

from bench.paths import REPO
from train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    atomic_write,
    atomic_write_json,
    load_weights,
    save_weights,
    sha256_file,
)
from train.model import HRNN, HRNNConfig

TINY = HRNNConfig(row_hidden=8, col_hidden=8)


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    with one_thread():
        yield


@pytest.fixture
def tiny_weights(tmp_path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_weights(HRNN(TINY), path)
    return path


def refused(path: Path, expected: HRNNConfig | None = None) -> str:
    """The CheckpointError's message: one line that names the file."""
    with pytest.raises(CheckpointError) as caught:
        load_weights(path, expected)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


# --- atomic writes -----------------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old")

    def half_write(tmp: Path) -> None:
        tmp.write_bytes(b"new but incomplete")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_write)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["checkpoint.pt"]  # the temporary file is gone


def test_atomic_write_replaces_the_file_when_writing_succeeds(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    atomic_write_json({"epoch": 2}, path)
    assert json.loads(path.read_text()) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    """Not mkstemp's private 0600: run folders and shipped weights are read by others."""
    old_umask = os.umask(0o022)
    try:
        atomic_write_json({}, tmp_path / "card.json")
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "card.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644


def test_atomic_write_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="folder .*missing does not exist"):
        atomic_write(tmp_path / "missing" / "x.pt", lambda tmp: tmp.write_bytes(b""))


def test_sha256_file(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(tmp_path / "f") == expected


# --- loading what we wrote ---------------------------------------------------------------


def test_weights_round_trip_in_eval_mode(tiny_weights):
    torch.manual_seed(0)
    original = HRNN(TINY)
    loaded = load_weights(tiny_weights, TINY)
    assert not loaded.training and loaded.config == TINY
    for name, value in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)
    assert load_weights(tiny_weights).config == TINY  # without `expected`, the file decides


def test_a_training_checkpoint_also_loads_as_weights(tmp_path):
    model = HRNN(TINY)
    path = tmp_path / "checkpoint.pt"
    state = model.state_dict()
    torch.save(
        {"format": CHECKPOINT_FORMAT, "model_config": TINY.to_dict(), "state_dict": state}, path
    )
    assert torch.equal(load_weights(path).head.weight, model.head.weight)


# --- refusing everything else ------------------------------------------------------------


def test_missing_file(tmp_path):
    assert "does not exist" in refused(tmp_path / "nope.pt")


@pytest.mark.parametrize("seed", range(24))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(seed).bytes(2048))
    refused(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    assert "not a readable PyTorch weights file" in refused(path)


@pytest.mark.parametrize(
    "content", [{"weights": torch.zeros(3)}, torch.zeros(3), [1, 2]], ids=["dict", "tensor", "list"]
)
def test_a_plain_torch_file_is_not_ours(tmp_path, content):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    assert "is a PyTorch file, but not an hrnn-mnist weights file" in refused(path)


def test_a_foreign_format_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "someone-else/3"}, path)
    assert "'someone-else/3'" in refused(path)


def test_another_architecture_is_refused_when_a_config_is_expected(tiny_weights):
    message = refused(tiny_weights, HRNNConfig())
    assert "'row_hidden': 8" in message and "'row_hidden': 128" in message


def test_weights_that_do_not_fit_their_own_config(tmp_path):
    path = tmp_path / "mismatch.pt"
    state = HRNN(TINY).state_dict()
    torch.save({"format": "hrnn-mnist-weights/1", "model_config": {}, "state_dict": state}, path)
    assert "do not fit the HRNN architecture" in refused(path)


@pytest.mark.parametrize(
    ("model_config", "state_dict"),
    [
        (None, {}),
        ({"row_hidden": 8, "depth": 2}, {}),
        ({"row_hidden": "8"}, {}),
        ({"row_hidden": -1}, {}),
        (TINY.to_dict(), [1, 2]),
        (TINY.to_dict(), None),
    ],
    ids=["no-config", "unknown-setting", "text-size", "negative-size", "list-state", "no-state"],
)
def test_unreadable_settings_or_weights(tmp_path, model_config, state_dict):
    path = tmp_path / "broken.pt"
    content = {"format": "hrnn-mnist-weights/1"}
    if model_config is not None:
        content["model_config"] = model_config
    if state_dict is not None:
        content["state_dict"] = state_dict
    torch.save(content, path)
    refused(path)


class Exploit:
    """Unpickling this would create a file: the side effect a safe load must not have."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_a_malicious_pickle_does_not_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "hrnn-mnist-weights/1", "model_config": {}, "x": Exploit(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    pickle.loads(pickle.dumps(Exploit(marker)))  # the exploit works when loaded unsafely...
    assert marker.exists()
    marker.unlink()
    refused(path)
    assert not marker.exists()  # ...but load_weights did not run it


# --- the shipped weights -----------------------------------------------------------------


def test_shipped_weights_match_their_card():
    weights = REPO / "weights" / "hrnn_mnist.pt"
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["weights_sha256"] == sha256_file(weights)
    model = load_weights(weights, HRNNConfig.from_dict(card["model_config"]))
    assert not model.training
