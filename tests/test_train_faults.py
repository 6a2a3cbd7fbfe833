"""Training killed with SIGKILL mid-epoch: no half-written checkpoint, ever, and --resume
ends with exactly the weights of a run that was never interrupted.

The killed run is a real process (tests/train_support.py as `python -m train`); the
uninterrupted reference and the resume run in-process. One thread everywhere: CPU
training is then bit-reproducible across processes.
"""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_support import LAUNCHER, TINY_ARGS, launcher_env, one_thread, write_tiny_mnist

from train import data
from train.__main__ import main
from train.checkpoint import load_weights
from train.model import HRNNConfig

# 112 steps of batch 8 per epoch: about a second each, a wide window to kill in.
ARGS = [*TINY_ARGS, "--threads", "1", "--offline", "--seed", "3", "--epochs", "3"]
ARGS += ["--batch-size", "8", "--limit-train", "896", "--limit-test", "100"]
TINY = HRNNConfig(row_hidden=8, col_hidden=8)

pytestmark = pytest.mark.slow


@pytest.fixture
def mnist(tmp_path, monkeypatch) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "mnist"
    checksums = write_tiny_mnist(folder, train=900, test=100)
    for name, digest in checksums.items():
        monkeypatch.setitem(data.PAYLOAD_SHA256, name, digest)
    return folder, checksums


def train_in_process(*argv: str) -> str:
    out = io.StringIO()
    with one_thread(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(list(argv))
    assert code == 0, out.getvalue()
    return out.getvalue()


def completed_epochs(run_dir: Path) -> int:
    try:
        return len(json.loads((run_dir / "metrics.json").read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def check_checkpoint(path: Path, seen: dict) -> None:
    """Whenever checkpoint.pt is a new file, it loads whole (atomic replace, never a stub)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if key not in seen:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        seen[key] = checkpoint["epoch"]
        load_weights(path, TINY)


def kill_in_epoch_2(run_dir: Path, checksums: dict[str, str]) -> dict:
    """Start a run, SIGKILL it once epoch 1 is saved and epoch 2 is under way."""
    command = [sys.executable, str(LAUNCHER), *ARGS, "--data-dir", str(run_dir.parent / "mnist")]
    process = subprocess.Popen(
        [*command, "--run-dir", str(run_dir)],
        env=launcher_env(checksums),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: dict = {}
    deadline = time.monotonic() + 120
    try:
        while completed_epochs(run_dir) < 1:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "epoch 1 never finished"
            check_checkpoint(run_dir / "checkpoint.pt", seen)
            time.sleep(0.01)
        time.sleep(0.2)  # into epoch 2's steps (metrics.json is epoch 1's last write)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    check_checkpoint(run_dir / "checkpoint.pt", seen)
    return seen


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(mnist, tmp_path):
    folder, checksums = mnist
    reference, run_dir = tmp_path / "reference", tmp_path / "killed"
    train_in_process(*ARGS, "--data-dir", str(folder), "--run-dir", str(reference))

    seen = kill_in_epoch_2(run_dir, checksums)
    assert sorted(set(seen.values())) == [1], "the kill must land after epoch 1, before epoch 2"
    assert completed_epochs(run_dir) == 1
    assert not (run_dir / "hrnn_mnist.pt").exists()

    log = train_in_process(*ARGS, "--data-dir", str(folder), "--run-dir", str(run_dir), "--resume")
    assert "after epoch 1" in log
    resumed = load_weights(run_dir / "hrnn_mnist.pt", TINY).state_dict()
    expected = load_weights(reference / "hrnn_mnist.pt", TINY).state_dict()
    assert resumed.keys() == expected.keys()
    for name in expected:
        assert torch.equal(resumed[name], expected[name]), name
    # The optimizer's state came back too: the checkpoints agree on everything trained.
    final = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    final_reference = torch.load(reference / "checkpoint.pt", weights_only=True)
    assert final["epoch"] == 3
    for state, other in zip(
        final["optimizer"]["state"].values(),
        final_reference["optimizer"]["state"].values(),
        strict=True,
    ):
        assert torch.equal(state["square_avg"], other["square_avg"])
    assert [m["train_loss"] for m in final["metrics"]] == [
        m["train_loss"] for m in final_reference["metrics"]
    ]
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []  # no temp files
