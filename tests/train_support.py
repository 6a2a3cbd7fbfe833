"""Helpers for the train room's tests: a tiny MNIST folder made from the repo's sample.

The train tests must pass on a machine without MNIST, so they write their own IDX files
(the first digits of tests/data/mnist_test_sample.npz) and teach train.data their
checksums. Run as a script, this module is `python -m train` with those checksums
(read from $HRNN_TEST_CHECKSUMS), for tests that need a real process (kill, torchrun).
"""

import gzip
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Run as a script by tests (kill, torchrun) from anywhere: no import of bench/ here.
SAMPLE = Path(__file__).resolve().parent / "data" / "mnist_test_sample.npz"
CHECKSUMS_ENV = "HRNN_TEST_CHECKSUMS"
LAUNCHER = Path(__file__).resolve()
TINY_ARGS = ["--row-hidden", "8", "--col-hidden", "8", "--no-progress", "--device", "cpu"]


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x00000803 (or 01), big-endian dims, payload."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def sample_digits(count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    with np.load(SAMPLE) as data:
        end = start + count
        return data["images"][start:end], data["labels"][start:end].astype(np.uint8)


def write_tiny_mnist(folder: Path, train: int = 300, test: int = 100) -> dict[str, str]:
    """Train files gzipped, test files raw (both forms load_split reads); returns checksums.

    The checksums are of the uncompressed payload, as train.data.PAYLOAD_SHA256's are.
    """
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = sample_digits(train)
    test_x, test_y = sample_digits(test, start=train)
    files = {
        "train-images-idx3-ubyte": (idx_bytes(train_x), True),
        "train-labels-idx1-ubyte": (idx_bytes(train_y), True),
        "t10k-images-idx3-ubyte": (idx_bytes(test_x), False),
        "t10k-labels-idx1-ubyte": (idx_bytes(test_y), False),
    }
    checksums = {}
    for name, (payload, zipped) in files.items():
        if zipped:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload, mtime=0))
        else:
            (folder / name).write_bytes(payload)
        checksums[name] = hashlib.sha256(payload).hexdigest()
    return checksums


def write_tiny_pendigits(path: Path, writers: int = 10, per_writer: int = 10) -> Path:
    """A small UNIPEN file: each writer draws digits as one or two short strokes."""
    rng = np.random.default_rng(0)
    lines = ['.LEXICON "0" "1" "2" "3" "4" "5" "6" "7" "8" "9"']
    for writer in range(1, writers + 1):
        for index in range(per_writer):
            label = index % 10
            lines += [f'.SEGMENT DIGIT {index} ? "{label}"', f".COMMENT {label} {writer} {index}"]
            for stroke in range(1 + label % 2):
                lines.append(".PEN_DOWN")
                start = rng.integers(100, 300, size=2)
                for step in range(6):
                    x, y = start + step * np.array([10 * stroke, 20 + label])
                    lines.append(f" {min(x, 500)} {min(y, 500)}")
                lines += [".PEN_UP", ".DT 100"]
    path.write_text("\n".join(lines) + "\n")
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime, to show that a refused command changed nothing."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread: on this busy 2-core box, 2 spinning threads make a 3 ms
    forward take a second; it is also what makes CPU training bit-reproducible."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def launcher_env(checksums: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env[CHECKSUMS_ENV] = json.dumps(checksums)
    return env


if __name__ == "__main__":
    import train.data
    from train.__main__ import main

    train.data.PAYLOAD_SHA256.update(json.loads(os.environ[CHECKSUMS_ENV]))
    sys.exit(main(sys.argv[1:]))
