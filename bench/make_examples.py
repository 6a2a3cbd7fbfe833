"""Writes the app's example images from MNIST test digits the model never trained on.

    python -m bench.make_examples

drawn_3/7/4.png look like sketchpad drawings (thick black strokes on a white 400x400 canvas,
off-centre); scan_2.png looks like a phone photo of paper (grey, shaded, noisy, dark ink).
Seeded, so the files come out the same every time.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from bench.evaluate_preprocessing import SAMPLE, draw_on_canvas, scan_of

HERE = Path(__file__).resolve().parent
# (file, index into tests/data/mnist_test_sample.npz, seed)
DRAWN = [("drawn_3.png", 18, 3), ("drawn_7.png", 0, 7), ("drawn_4.png", 4, 5)]
SCAN = ("scan_2.png", 1, 2)


def main() -> None:
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"], sample["labels"]
    for name, index, seed in DRAWN:
        assert labels[index] == int(name[6]), (name, labels[index])
        canvas = draw_on_canvas(images[index], np.random.default_rng(seed))
        Image.fromarray(canvas).save(HERE / name, optimize=True)
    name, index, seed = SCAN
    assert labels[index] == int(name[5]), (name, labels[index])
    scan = scan_of(images[index] / 255.0, np.random.default_rng(seed), size=240)
    Image.fromarray(scan).save(HERE / name, optimize=True)
    print(f"wrote {len(DRAWN) + 1} examples to {HERE}")


if __name__ == "__main__":
    main()
