"""What the model sees of an upload, for tests: demo.photo's ink, then the reader graph's 28x28."""

from functools import cache

import numpy as np

from demo.photo import photo_ink
from demo.reader import Reader


@cache
def shipped_reader() -> Reader:
    """One session on the shipped float reader, shared by a test run."""
    return Reader()


def to_mnist(image: object) -> np.ndarray | None:
    """The (28, 28) 0..255 image the graph read from an upload; None when it read nothing.

    Raises PreprocessError, as the page would show it, for what cannot be read."""
    ink = photo_ink(image)
    if ink is None:
        return None
    out = shipped_reader().run(ink)
    return out["image"][0] if out["ink_found"][0] else None
