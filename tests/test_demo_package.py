"""A non-editable install carries every file the page serves, so it reads in the browser too."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench.paths import REPO
from demo import browser


def _listed(*args: str) -> list[str]:
    return subprocess.run(
        ["git", "ls-files", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()


def _served() -> set[str]:
    """Every file of demo/ the page may send a browser: all tracked files but Python source."""
    return {name for name in _listed("demo") if not name.endswith(".py")}


def _checkout(into: Path) -> Path:
    """The project's files (tracked or not ignored) copied to `into`: what a clone builds; the
    build's own leftovers (build/, *.egg-info) land there, not in the repository."""
    for name in _listed("--cached", "--others", "--exclude-standard"):
        if (REPO / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, into / name)
    return into


@pytest.mark.slow
def test_the_wheel_holds_every_file_the_page_serves(tmp_path):
    source, out = _checkout(tmp_path / "source"), tmp_path / "wheel"
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps"]
    command += ["--no-build-isolation", "-q", "-w", str(out)]  # offline: setuptools is here
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = out.glob("hrnn_mnist-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    served = _served()
    assert {f"demo/web/{name}" for name in browser.MODULES} <= served  # the worker's modules
    assert {"demo/answer.js", "demo/canvas.js", "demo/hrnn_mnist.onnx"} <= served
    assert served - inside == set()
    assert not [name for name in inside if "/vendor/" in name]  # fetched at startup instead
