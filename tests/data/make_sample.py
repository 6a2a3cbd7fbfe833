"""Writes mnist_test_sample.npz: the first 1,000 MNIST test digits, for the tests.

python tests/data/make_sample.py [--data-dir DIR]; export takes it with --sample.
"""

import argparse
from pathlib import Path

import numpy as np

from train.data import load_split

SAMPLE_PATH = Path(__file__).with_name("mnist_test_sample.npz")
SAMPLE_SIZE = 1000

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    images, labels = load_split("test", args.data_dir, download=False)
    np.savez_compressed(
        SAMPLE_PATH, images=images[:SAMPLE_SIZE], labels=labels[:SAMPLE_SIZE].astype(np.uint8)
    )
    print(f"wrote {SAMPLE_PATH} ({SAMPLE_SIZE} digits)")
