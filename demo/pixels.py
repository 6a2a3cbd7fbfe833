"""Whatever a user sends, as float luma and alpha planes: files, bytes, Pillow images, arrays.

The reading half of demo.preprocess: decode with Pillow (refusing decompression bombs before
any pixel is decoded), check dtypes, shapes and values, and area-average anything larger than
WORK_SIDE first so a 10,000 px upload costs about as much as a 1,000 px one. Accepted pixel
types: uint8, uint16, float32/64 (0..1, or 0..255 when any value exceeds 1); everything else,
and anything unreadable, is a PreprocessError with one sentence for the user.
"""

import io
import math
import os
import warnings

import numpy as np
from PIL import Image

MAX_PIXELS = 12_000 * 12_000  # decoded images beyond this are refused (decompression bombs)
MAX_FILE_BYTES = 256 * 2**20
WORK_SIDE = 1024  # inputs are area-averaged to at most this before any analysis
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class PreprocessError(ValueError):
    """Unreadable or unusable input; the message is one sentence meant for the user."""


def read_planes(image: object) -> tuple[np.ndarray, np.ndarray | None]:
    """(luma, alpha or None), float32 in 0..1 and at most WORK_SIDE px on a side."""
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        image = _decode(image)
    if isinstance(image, Image.Image):
        return _planes(_pil_array(image))
    if isinstance(image, np.ndarray):
        return _planes(image)
    raise PreprocessError(f"Cannot read a {type(image).__name__} as an image.")


def _decode(source: str | os.PathLike | bytes | bytearray | memoryview) -> Image.Image:
    """Open a path or encoded bytes with Pillow, refusing bombs before decoding pixels."""
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            if os.path.getsize(source) > MAX_FILE_BYTES:
                raise PreprocessError("The image file is larger than 256 MiB.")
            with open(source, "rb") as handle:
                data = handle.read()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings and broken-file chatter
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise PreprocessError(
                    f"The image is {image.width}x{image.height} pixels, more than this demo "
                    "decodes (a decompression-bomb guard); send a smaller picture."
                )
            image.draft(image.mode, (WORK_SIDE, WORK_SIDE))  # JPEG decodes at a reduced scale
            image.load()
        return image
    except PreprocessError:
        raise
    except Image.DecompressionBombError:
        raise PreprocessError("The image has too many pixels to decode safely.") from None
    except OSError as error:
        if isinstance(error, FileNotFoundError | IsADirectoryError):
            raise PreprocessError(f"No image file at {os.fspath(source)!r}.") from None
        raise PreprocessError("The file is not an image this demo can read.") from None
    except Exception:  # Pillow's decoders raise many types on hostile bytes
        raise PreprocessError("The file is not an image this demo can read.") from None


def _pil_array(image: Image.Image) -> np.ndarray:
    """Pillow image -> uint8/uint16/float32 array with 1..4 channels, reduced to <= WORK_SIDE."""
    if image.width * image.height > MAX_PIXELS:
        raise PreprocessError("The image has too many pixels to process safely.")
    try:
        if image.mode.startswith("I"):  # 16-bit greyscale PNG and friends
            image = image.convert("I")
        elif image.mode not in ("L", "LA", "RGB", "RGBA", "F"):
            alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if alpha else "L" if image.mode == "1" else "RGB")
        factor = math.ceil(max(image.size) / WORK_SIDE)
        if factor > 1:
            image = image.reduce(factor)
        pixels = np.asarray(image)
    except Exception:  # an exotic mode Pillow cannot convert, or a lazily opened broken file
        raise PreprocessError(f"Cannot read a Pillow image in mode {image.mode}.") from None
    if image.mode != "I":
        return pixels
    pixels = pixels.astype(np.float32)
    peak = 65535.0 if pixels.size and pixels.max() > 255 else 255.0
    return np.clip(pixels / peak, 0.0, 1.0)


def _planes(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate an array image and return its luma and alpha (or None), float32 in 0..1."""
    if array.dtype not in _FULL_SCALE and array.dtype not in _FLOATS:
        raise PreprocessError(
            f"Unsupported pixel type {array.dtype}; send uint8, uint16 or float32/64 pixels."
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise PreprocessError(f"Expected an HxW image with 1 to 4 channels, got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise PreprocessError("The image has no pixels.")
    pixels = _shrink(array)
    if not np.isfinite(pixels).all():
        raise PreprocessError("The image contains NaN or infinite pixel values.")
    if array.dtype in _FULL_SCALE:
        pixels /= _FULL_SCALE[array.dtype]
    elif pixels.min() < 0 or pixels.max() > 255:
        raise PreprocessError("Float pixel values must lie in 0..1 or 0..255.")
    elif pixels.max() > 1:
        pixels /= 255.0
    channels = pixels.shape[2]
    if channels <= 2:
        luma = pixels[:, :, 0]
    else:
        luma = pixels[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return luma, (pixels[:, :, -1] if channels in (2, 4) else None)


def _shrink(array: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """Area-average (H, W, C) to at most `side` px, chunk by chunk so huge inputs stay cheap."""
    height, width, _ = array.shape
    factor = math.ceil(max(height, width) / side)
    fy, fx = min(factor, height), min(factor, width)
    if fy == fx == 1:
        return array.astype(np.float32)
    rows, cols = height // fy, width // fx
    step = max(1, 2**22 // (fy * array[0].size))
    return np.concatenate(
        [
            block_mean(array[start * fy : min(start + step, rows) * fy, : cols * fx], fy, fx)
            for start in range(0, rows, step)
        ]
    )


def block_mean(array: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean over fy x fx blocks of (H, W, ...) with H, W multiples of them; rows first (fast)."""
    height, width = array.shape[:2]
    rest = array.shape[2:]
    summed = array.reshape(height // fy, fy, width, *rest).sum(axis=1, dtype=np.float32)
    summed = summed.reshape(height // fy, width // fx, fx, *rest).sum(axis=2)
    return summed / np.float32(fy * fx)
