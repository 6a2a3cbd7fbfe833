"""DDP on CPU: `torchrun --nproc_per_node=2 -m train --device cpu` (gloo) trains one model,
writes one run folder, and says so in its card; a single process cannot resume it."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from train_support import LAUNCHER, TINY_ARGS, launcher_env, one_thread, write_tiny_mnist

from train import data
from train.__main__ import main
from train.checkpoint import load_weights, sha256_file
from train.model import HRNNConfig

pytestmark = pytest.mark.slow
ARGS = [*TINY_ARGS, "--offline", "--limit-train", "256", "--limit-test", "100", "--epochs", "1"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> dict:
    """Two processes on the tiny MNIST (tests/train_support.py stands in for `-m train`)."""
    root = tmp_path_factory.mktemp("ddp")
    checksums = write_tiny_mnist(root / "mnist", train=300, test=100)
    run_dir = root / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--standalone", str(LAUNCHER), *ARGS]
    command += ["--data-dir", str(root / "mnist"), "--run-dir", str(run_dir)]
    result = subprocess.run(
        command, env=launcher_env(checksums), capture_output=True, text=True, timeout=300
    )
    return {"result": result, "run_dir": run_dir, "mnist": root / "mnist", "checksums": checksums}


def test_two_processes_train_one_model(ddp_run):
    result = ddp_run["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "world size 2" in result.stdout
    assert result.stdout.count("report: test loss") == 1  # only rank 0 reports and writes
    run_dir = ddp_run["run_dir"]
    card = json.loads((run_dir / "hrnn_mnist.json").read_text())
    assert card["world_size"] == 2
    assert card["command"].startswith("torchrun --nproc_per_node=2 -m train ")
    assert card["images"]["train"] == 256
    assert card["weights_sha256"] == sha256_file(run_dir / "hrnn_mnist.pt")
    load_weights(run_dir / "hrnn_mnist.pt", HRNNConfig(row_hidden=8, col_hidden=8))
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_a_single_process_cannot_resume_a_two_process_run(ddp_run, monkeypatch):
    for name, digest in ddp_run["checksums"].items():
        monkeypatch.setitem(data.PAYLOAD_SHA256, name, digest)
    run_dir: Path = ddp_run["run_dir"]
    before = (run_dir / "checkpoint.pt").read_bytes()
    argv = [*ARGS, "--data-dir", str(ddp_run["mnist"]), "--run-dir", str(run_dir), "--resume"]
    err = io.StringIO()
    with one_thread(), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 2
    assert "world_size" in err.getvalue()
    assert (run_dir / "checkpoint.pt").read_bytes() == before
