"""MNIST from the four standard IDX files: find, download, verify and read them.

The checksums are of the uncompressed IDX payload, not of the gzip wrapper, so a
re-compressed copy (or an unzipped one) verifies the same as the canonical download.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "HRNN_MNIST_DATA"
DEFAULT_DATA_DIR = Path.home() / ".cache" / "hrnn-mnist" / "mnist"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
PAYLOAD_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
IDX_UBYTE = 0x08


class DataError(Exception):
    """Missing, corrupt or foreign data; the message says which file and what is wrong."""


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """An explicit folder wins, then $HRNN_MNIST_DATA, then the per-user cache."""
    if data_dir is not None:
        return Path(data_dir)
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file (gzip or not) into a uint8 array, checking it is whole."""
    raw = _gunzip(raw, source)
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise DataError(f"{source}: not an IDX file (it does not start with two zero bytes)")
    if raw[2] != IDX_UBYTE:
        raise DataError(f"{source}: IDX data type 0x{raw[2]:02x} is not unsigned bytes (0x08)")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise DataError(f"{source}: IDX header is cut short ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    found = len(raw) - header_size
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        dims = "x".join(map(str, shape))
        raise DataError(f"{source}: {what}: header says {dims} = {expected} bytes, found {found}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _gunzip(raw: bytes, source: str) -> bytes:
    """The payload of gzip data (or `raw` itself); a broken gzip is a DataError."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{source}: broken gzip data ({error})") from None


def payload_sha256(raw: bytes, source: str = "<bytes>") -> str:
    return hashlib.sha256(_gunzip(raw, source)).hexdigest()


def find_file(data_dir: Path, name: str) -> Path | None:
    for candidate in (data_dir / f"{name}.gz", data_dir / name):
        if candidate.is_file():
            return candidate
    return None


def download_file(
    name: str,
    data_dir: Path,
    mirrors: tuple[str, ...] | None = None,
    checksums: dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Fetch `name`.gz from the first mirror that serves a verified copy.

    The file lands under a temporary name and is renamed only after its checksum
    matches, so an interrupted or corrupted download never looks like data.
    """
    mirrors = MIRRORS if mirrors is None else mirrors  # looked up now, so tests can swap them
    checksums = PAYLOAD_SHA256 if checksums is None else checksums
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / f"{name}.gz"
    failures = []
    for mirror in mirrors:
        url = f"{mirror}{name}.gz"
        handle, partial = tempfile.mkstemp(dir=data_dir, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=30) as reply:
                _copy_with_progress(reply, out, name, progress)
            digest = payload_sha256(Path(partial).read_bytes())
            if digest != checksums[name]:
                failures.append(f"{url}: checksum mismatch (sha256 {digest[:12]}...)")
                continue
            os.replace(partial, target)
            return target
        except (urllib.error.URLError, OSError, ValueError, DataError) as error:
            failures.append(f"{url}: {error}")
        finally:
            Path(partial).unlink(missing_ok=True)
    raise DataError(f"could not download {name}: " + "; ".join(failures))


def _copy_with_progress(response, out, name: str, progress: bool) -> None:
    total = int(response.headers.get("Content-Length") or 0) or None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a courtesy, not a requirement
        progress = False
    if not progress:
        shutil.copyfileobj(response, out)
        return
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
        while chunk := response.read(1 << 16):
            out.write(chunk)
            bar.update(len(chunk))


def load_split(
    split: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of MNIST's 'train' or 'test' split."""
    if split not in FILES:
        raise DataError(f"unknown split {split!r}; choose from {sorted(FILES)}")
    folder = resolve_data_dir(data_dir)
    arrays = []
    for name in FILES[split]:
        path = find_file(folder, name)
        if path is None:
            if not download:
                raise DataError(
                    f"{name}(.gz) is not in {folder} and downloads are off; point --data-dir "
                    f"or ${DATA_DIR_ENV} at a folder holding the four MNIST IDX files"
                )
            path = download_file(name, folder)
        raw = path.read_bytes()
        if verify and payload_sha256(raw, str(path)) != PAYLOAD_SHA256[name]:
            raise DataError(f"{path}: checksum does not match MNIST's {name}; the file is corrupt")
        arrays.append(parse_idx(raw, str(path)))
    images, labels = arrays
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{split} images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{split}: {len(images)} images but labels of shape {labels.shape}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{split}: label {labels.max()} found; MNIST's labels are the digits 0-9")
    return images, labels.astype(np.int64)


def dataset_checksums(data_dir: str | Path | None = None) -> dict[str, str]:
    """The payload sha256 of each file that training read, for the model card."""
    folder = resolve_data_dir(data_dir)
    return {
        name: payload_sha256(path.read_bytes())
        for names in FILES.values()
        for name in names
        if (path := find_file(folder, name)) is not None
    }


VALIDATION_SEED = 20150601


def validation_split(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (validation, training) indices of MNIST's training set: the same in every run
    and tool, so validation digits never leak into training or into a test-only comparison."""
    order = np.random.default_rng(VALIDATION_SEED).permutation(count)
    return np.sort(order[:size]), np.sort(order[size:])
