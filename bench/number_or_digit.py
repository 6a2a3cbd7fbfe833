"""How often one digit's picture is taken for a number: single MNIST validation digits as
phone photos, hard photos, small scans and thin-pen traces (bench/photos.py), read through
demo.reading.read_picture (the CLI's, the API's and the upload tab's road).

    python -m bench.number_or_digit [--n 150] [--data-dir /work/shared/data/mnist]

For each picture: whether it came back as a number (then the single digit is lost), and
whether the digit read is right, beside photo_ink's one-digit road. Validation digits only:
this is for choosing. Writes results/number_or_digit.json.
"""

import argparse
import os
import platform

import numpy as np

from bench.handwriting import load_mnist_validation
from bench.paths import REPO, write_json
from bench.photos import pen_drawing, photo, small_scan
from demo.photo import photo_ink
from demo.reader import NumberReading, Reader
from demo.reading import read_picture

KINDS = {
    "photo": lambda im, rng: photo(im, rng),
    "hard_photo": lambda im, rng: photo(im, rng, hard=True),
    "small_scan": lambda im, rng: small_scan(im, rng),
    "thin_pen_trace": lambda im, rng: pen_drawing(im, rng),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    images, labels, source = load_mnist_validation(args.data_dir)
    images, labels = images[: args.n], labels[: args.n]
    reader, rng = Reader(), np.random.default_rng(1)
    result = {
        "source": source,
        "n": args.n,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
    }
    for kind, make in KINDS.items():
        numbers = right = right_alone = 0
        for image, label in zip(images, labels, strict=True):
            picture = make(image, rng)
            alone = photo_ink(picture)
            got = None if alone is None else reader.read(alone)
            right_alone += bool(got is not None and got.label == str(label))
            found = read_picture(reader, picture)
            numbers += isinstance(found, NumberReading)
            right += bool(
                not isinstance(found, NumberReading) and found and found.label == str(label)
            )
        result[kind] = {
            "read_as_number": numbers,
            "right": right,
            "right_one_digit_road": right_alone,
        }
        print(kind, result[kind])
    write_json(REPO / "results" / "number_or_digit.json", result)


if __name__ == "__main__":
    main()
