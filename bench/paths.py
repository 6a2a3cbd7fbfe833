"""Where things live in a checkout, written once for the benchmarks and the tests."""

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"
SAMPLE = REPO / "tests" / "data" / "mnist_test_sample.npz"  # 1,000 real MNIST test digits
WEIGHTS = REPO / "weights" / "hrnn_mnist.pt"
SHARED_DATA = REPO.parent / "shared" / "data"


def mnist_dir() -> Path | None:
    """Full MNIST: $HRNN_MNIST_DATA, else the shared copy beside the checkout, else None."""
    for candidate in (os.environ.get("HRNN_MNIST_DATA"), SHARED_DATA / "mnist"):
        if candidate and (Path(candidate) / "t10k-labels-idx1-ubyte.gz").is_file():
            return Path(candidate)
    return None


def write_json(path: Path, result: dict) -> None:
    """A benchmark's or evaluation's numbers, as the README's commands leave them in results/."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
