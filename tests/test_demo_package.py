"""A non-editable install carries every file the page serves, so it reads in the browser too."""

import subprocess
import sys
import zipfile

import pytest

from bench.paths import REPO
from demo import browser


def _served() -> set[str]:
    """Every file of demo/ the page may send a browser: all tracked files but Python source."""
    listed = subprocess.run(
        ["git", "ls-files", "demo"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return {name for name in listed if not name.endswith(".py")}


@pytest.mark.slow
def test_the_wheel_holds_every_file_the_page_serves(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("hrnn_mnist-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    served = _served()
    assert {f"demo/web/{name}" for name in browser.MODULES} <= served  # the worker's modules
    assert {"demo/answer.js", "demo/canvas.js", "demo/hrnn_mnist.onnx"} <= served
    assert served - inside == set()
    assert not [name for name in inside if "/vendor/" in name]  # fetched at startup instead
