"""Saving and loading: atomic writes, safe loads, and one clear sentence when a file is wrong."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from train.model import HRNN, HRNNConfig

WEIGHTS_FORMAT = "hrnn-mnist-weights/1"
CHECKPOINT_FORMAT = "hrnn-mnist-checkpoint/1"


class CheckpointError(Exception):
    """A checkpoint or weights file that is missing, corrupt, foreign or mismatched."""


def atomic_write(path: Path, write: "callable") -> None:
    """Call write(tmp_path), then rename over `path`: a kill leaves the old file or the new one."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot write {path}: folder {path.parent} does not exist")
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make run folders private
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_json(obj: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def safe_load(path: Path, kind: str) -> dict:
    """torch.load with weights_only=True: a file from elsewhere cannot run code on load."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{kind} file {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # garbage can fail anywhere in the unpickler (even IndexError)
        text = str(e).strip()
        if "weights_only" in text:  # torch would suggest an unsafe load: we never do that
            reason = "it holds Python objects that a safe load refuses to run"
        else:
            reason = text.splitlines()[0] if text else type(e).__name__
        message = f"{path} is not a readable PyTorch {kind} file ({reason})"
        raise CheckpointError(message) from None
    if not isinstance(data, dict) or "format" not in data:
        raise CheckpointError(f"{path} is a PyTorch file, but not an hrnn-mnist {kind} file")
    return data


def build_model(data: dict, path: Path, expected: HRNNConfig | None = None) -> HRNN:
    """The HRNN described by a loaded file, with its weights, or a CheckpointError."""
    try:
        config = HRNNConfig.from_dict(data["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: model settings are missing or unreadable ({e})") from None
    if expected is not None and config != expected:
        raise CheckpointError(
            f"{path} holds a model with {config.to_dict()}, but {expected.to_dict()} was asked for"
        )
    try:
        model = HRNN(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: model settings {config.to_dict()} are invalid ({e})"
        ) from None
    try:
        model.load_state_dict(data["state_dict"])
    except (KeyError, RuntimeError, TypeError) as e:
        detail = " ".join(str(e).split())  # load_state_dict's message spans several lines
        raise CheckpointError(
            f"{path}: weights do not fit the HRNN architecture ({detail})"
        ) from None
    return model


def save_weights(model: HRNN, path: Path) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save(
        {"format": WEIGHTS_FORMAT, "model_config": model.config.to_dict(), "state_dict": state},
        path,
    )


def load_weights(path: Path, expected: HRNNConfig | None = None) -> HRNN:
    """The trained model from a weights file or a training checkpoint, in eval mode."""
    data = safe_load(path, "weights")
    if data["format"] not in (WEIGHTS_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"{path} has format {data['format']!r}, not {WEIGHTS_FORMAT!r}")
    return build_model(data, path, expected).eval()
