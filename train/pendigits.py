"""Pen-written digits from UCI pendigits (UNIPEN text): strokes, labels and who wrote them.

Real pen strokes from 30 writers in Istanbul (long-flagged 1s, crossed 7s) teach the model
styles MNIST's American writers rarely use. Splits are by writer: a person's digits are all
in training or all held out, so held-out accuracy is accuracy on strangers.
"""

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.data import DataError

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pendigits"
FILE_NAME = "pendigits-orig.tra.gz"
SOURCE = "UCI pendigits (Alpaydin & Alimoglu 1998), training writers"
LICENCE = "CC BY 4.0"
TABLET_SIDE = 500  # coordinates are tablet pixels in 0..500, y up
SPLIT_SEED = 20260101  # fixed: the held-out writers never move with a run's --seed
VALIDATION_WRITERS, TEST_WRITERS = 4, 4  # of 30: choices on 4 people, the table's 4 others


@dataclass(frozen=True)
class PenDigit:
    label: int
    writer: int
    strokes: tuple[np.ndarray, ...]  # each (n, 2) float32 x, y in tablet pixels, y DOWN


def find_file(path: str | Path | None = None) -> Path:
    """The pendigits file: a path given (file or folder), else ../shared/data/pendigits."""
    path = Path(path) if path is not None else DEFAULT_FILE
    if path.is_dir():
        path = path / FILE_NAME
    if not path.is_file():
        raise DataError(f"no pendigits file at {path} (pass --pendigits PATH)")
    return path


def read_pendigits(path: str | Path) -> list[PenDigit]:
    """Every digit in a UNIPEN file (gzip or plain); malformed input raises DataError."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path}: broken gzip ({error})") from None
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UNIPEN text file (non-ASCII bytes)") from None
    return _parse(lines, str(path))


def _parse(lines: list[str], source: str) -> list[PenDigit]:
    digits: list[PenDigit] = []
    label = writer = None
    strokes: list[np.ndarray] = []
    points: list[tuple[int, int]] | None = None  # the stroke being drawn, None while pen is up
    started = 0  # the line of the digit's .SEGMENT

    def finish(number: int) -> None:
        if label is None:
            return
        if points is not None:
            raise DataError(f"{source}:{number}: a digit ends while the pen is still down")
        if not strokes:
            raise DataError(f"{source}:{started}: digit {label!r} has no pen strokes")
        if writer is None:
            raise DataError(f"{source}:{started}: digit {label!r} has no .COMMENT with its writer")
        digits.append(PenDigit(label, writer, tuple(strokes)))

    for number, line in enumerate(lines, start=1):
        words = line.split()
        if not words:
            continue
        keyword = words[0]
        if keyword == ".SEGMENT":
            finish(number)
            text = line.rsplit('"', 2)
            if len(text) != 3 or len(text[1]) != 1 or not text[1].isdigit():
                raise DataError(
                    f'{source}:{number}: a .SEGMENT needs a digit label in quotes "0"-"9"'
                )
            label, writer, strokes, points = int(text[1]), None, [], None
            started = number
        elif keyword == ".COMMENT" and label is not None:
            if len(words) < 3 or not words[2].isdigit():
                raise DataError(f"{source}:{number}: .COMMENT needs 'label writer sequence'")
            writer = int(words[2])
        elif keyword == ".PEN_DOWN":
            if label is None or points is not None:
                raise DataError(f"{source}:{number}: .PEN_DOWN outside a digit or twice")
            points = []
        elif keyword == ".PEN_UP":
            if points is None:
                raise DataError(f"{source}:{number}: .PEN_UP without .PEN_DOWN")
            if not points:
                raise DataError(f"{source}:{number}: a stroke with no points")
            xy = np.asarray(points, dtype=np.float32)
            xy[:, 1] = TABLET_SIDE - xy[:, 1]  # UNIPEN's y grows upwards; a screen's downwards
            strokes.append(xy)
            points = None
        elif keyword.startswith("."):
            continue  # .DT, .INCLUDE, .LEXICON, ...: nothing a drawing needs
        else:
            if points is None:
                raise DataError(f"{source}:{number}: a point outside .PEN_DOWN/.PEN_UP")
            try:
                x, y = (int(word) for word in words)
            except ValueError:
                raise DataError(f"{source}:{number}: expected two integers 'x y'") from None
            if not (0 <= x <= TABLET_SIDE and 0 <= y <= TABLET_SIDE):
                raise DataError(f"{source}:{number}: point ({x}, {y}) is off the 0..500 tablet")
            points.append((x, y))
    finish(len(lines))
    if not digits:
        raise DataError(f"{source}: no digits found (is this a UNIPEN pendigits file?)")
    return digits


def split_by_writer(
    digits: list[PenDigit], held_out: int, seed: int
) -> tuple[list[PenDigit], list[PenDigit], list[int]]:
    """(kept, held out, held-out writer ids): `held_out` whole writers chosen by `seed`."""
    writers = sorted({digit.writer for digit in digits})
    if not 0 <= held_out < len(writers):
        raise ValueError(f"cannot hold out {held_out} of {len(writers)} writers")
    chosen = sorted(np.random.default_rng(seed).choice(writers, held_out, replace=False).tolist())
    kept = [digit for digit in digits if digit.writer not in chosen]
    out = [digit for digit in digits if digit.writer in chosen]
    return kept, out, chosen


def writer_splits(
    digits: list[PenDigit],
) -> tuple[list[PenDigit], list[PenDigit], list[PenDigit]]:
    """(train, validation, test) by writer: validation picks models and calibrates them,
    test writers are only ever evaluated (bench/evaluate.py), never trained or tuned on."""
    rest, test, _ = split_by_writer(digits, TEST_WRITERS, SPLIT_SEED)
    train, validation, _ = split_by_writer(rest, VALIDATION_WRITERS, SPLIT_SEED + 1)
    return train, validation, test


def pack(digits: list[PenDigit], max_points: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad to arrays for batched rendering: points (N, P, 2), stroke id (N, P; -1 = none), labels.

    Points where the resting pen repeated itself are dropped, and the few digits sampled more
    densely than max_points are thinned evenly: rendering cost grows with P, the shape does not.
    """
    cleaned = []
    for digit in digits:
        kept = []
        for index, stroke in enumerate(digit.strokes):
            moved = np.ones(len(stroke), dtype=bool)
            moved[1:] = np.any(stroke[1:] != stroke[:-1], axis=1)
            kept.append((stroke[moved], index))
        total = sum(len(stroke) for stroke, _ in kept)
        if total > max_points:
            step = -(-total // max_points)
            kept = [(np.concatenate([s[:-1][::step], s[-1:]]), i) for s, i in kept]
        cleaned.append(kept)
    longest = max(sum(len(s) for s, _ in kept) for kept in cleaned)
    points = np.zeros((len(digits), longest, 2), dtype=np.float32)
    stroke_ids = np.full((len(digits), longest), -1, dtype=np.int64)
    for row, kept in enumerate(cleaned):
        at = 0
        for stroke, index in kept:
            points[row, at : at + len(stroke)] = stroke
            stroke_ids[row, at : at + len(stroke)] = index
            at += len(stroke)
    labels = np.array([digit.label for digit in digits], dtype=np.int64)
    return points, stroke_ids, labels
