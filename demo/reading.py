"""One picture -> what it says: a single digit's Reading, a NumberReading, or nothing.

The ink decides, not a flag: a picture is cleaned once (demo.photo), every digit-sized piece
is kept and cut into digits (demo.numbers); two or more digits are a number, read digit by
digit (or, if some of them touch, reported with the TOUCHING sentence). One digit is read
exactly as a single digit always was: the heaviest digit's ink (keep="digit") straight to the
reader graph, so single-digit answers do not change; a lone piece wider than a digit (a 7's
bar drawn first, two digits joined in one stroke) is read that way too, and so is one digit
beside pieces shorter than half of it (a broken stroke: `is_number`). The CLI, the API and
the page's upload path use this; a drawing needs none of it (the page groups its strokes).
"""

import numpy as np

from demo.numbers import FRAGMENT, segment
from demo.photo import photo_inks
from demo.reader import NumberReading, Reader, Reading

Found = Reading | NumberReading | None
MIN_HEIGHT = 8  # px: the tallest digit of a number is at least this tall


def read_inks(reader: Reader, digit_ink: np.ndarray | None, all_ink: np.ndarray | None) -> Found:
    """The number on `all_ink` if it holds several digits (or touching ones), else the one
    digit on `digit_ink` read as always; None if there is nothing to read."""
    if all_ink is None:
        return None
    found = segment(all_ink)
    if not is_number([digit.box[3] for digit in found.digits]):
        return None if digit_ink is None else reader.read(digit_ink)
    if found.touching:
        return NumberReading(touching=[digit.box for digit in found.digits if digit.touching])
    readings = reader.read_each([digit.plane for digit in found.digits])
    return NumberReading.of(readings, [digit.box for digit in found.digits])


def is_number(heights: list[int]) -> bool:
    """Two or more digits of a digit's height: a number. A digit's stray fragment (shorter
    than demo.numbers.FRAGMENT of the tallest: a broken stroke, a flag drawn apart) beside one
    full digit leaves it one digit, read as always; so do marks under MIN_HEIGHT px tall (dots
    and noise: no digit can be read at that size, MNIST's own are 20 px)."""
    if not heights or max(heights) < MIN_HEIGHT:
        return False
    return sum(h >= FRAGMENT * max(heights) for h in heights) >= 2


def read_picture(reader: Reader, image: object) -> Found:
    """A file, bytes, array or PIL image -> what it says (see read_inks). Raises
    PreprocessError (NumberError included) with one sentence, ModelError for the graph."""
    found = photo_inks(image)
    return None if found is None else read_inks(reader, *found)


def record(found: Found, blank: str) -> dict:
    """The JSON answer of the CLI and the API: a digit's or a number's record (docs/numbers.md),
    or {"error": blank} when there is nothing to read."""
    got = None if found is None else found.record()
    return {"error": blank} if got is None else got
