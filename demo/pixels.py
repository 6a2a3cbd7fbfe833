"""Whatever a user sends, as float luma and alpha planes: files, bytes, Pillow images, arrays.

The reading half of demo.preprocess, written for a public server: files are opened without
blocking and must be regular files, reads stop at MAX_FILE_BYTES, image headers are checked
before any pixel is decoded (MAX_PIXELS, MAX_DECODED_BYTES), JPEGs decode at a reduced scale,
big decodes take turns (BIG_DECODES at once), and pictures are reduced band by band to at most
WORK_SIDE px so no full-size converted copy exists. EXIF orientation is applied, so a phone
photo reads upright. Accepted pixel types: uint8, uint16, float32/64 (0..1, or 0..255 when any
value exceeds 1); everything else is a PreprocessError with one sentence for the user.
"""

import errno
import io
import math
import os
import stat
import threading
import warnings

import numpy as np
from PIL import Image

from demo.reader import PreprocessError  # one error class for every unreadable input

MAX_FILE_BYTES = 10 * 2**20  # an encoded image beyond this is refused unread (a photo is 3-8 MB)
MAX_PIXELS = 50_000_000  # header size cap: a 48 MP phone photo passes, 12000x12000 does not
MAX_DECODED_BYTES = 64 * 2**20  # decoded pixels after JPEG draft: a 12 MP RGBA PNG fits
DECODE_COST = {"WEBP": 4}  # libwebp's buffers: a 64 MiB RGBA WebP peaked at 257 MB (measured)
BIG_DECODE_BYTES = 8 * 2**20  # decodes above this take turns ...
BIG_DECODES = 2  # ... this many at once, so concurrent requests cannot stack up memory
BUSY_SECONDS = 20.0  # waiting longer than this for a turn is a "busy" message
BAND_PIXELS = 2**20  # conversion and reduction run on bands of about this many pixels
WORK_SIDE = 1024  # inputs are area-averaged to at most this before any analysis
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # not EPS (Ghostscript) nor ICO
# (ICO decodes an embedded PNG while opening, before any size check); JPEG covers MPO
_ORIENTATION = 0x0112  # EXIF tag; the transposes below are ImageOps.exif_transpose's table
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}  # fmt: skip
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
_turns = threading.BoundedSemaphore(BIG_DECODES)
Image.init()  # register the plugins now: open(formats=...) fails on one not yet registered


def read_planes(image: object) -> tuple[np.ndarray, np.ndarray | None]:
    """(luma, alpha or None), float32 in 0..1 and at most WORK_SIDE px on a side."""
    if isinstance(image, (str, os.PathLike)):
        image = read_file(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _planes(_decode(bytes(image)))
    if isinstance(image, Image.Image):
        return _planes(_pil_array(image))
    if isinstance(image, np.ndarray):
        return _planes(image)
    raise PreprocessError(f"Cannot read a {type(image).__name__} as an image.")


def read_file(path: str | os.PathLike) -> bytes:
    """A regular file's bytes, at most MAX_FILE_BYTES; never blocks on a FIFO or a device."""
    name = _shown(path)
    try:
        info = os.stat(path)  # devices, FIFOs and directories are refused unopened
        _check_regular(info, name)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except PreprocessError:
        raise
    except (OSError, ValueError) as error:
        raise PreprocessError(_open_failure(error, name)) from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        _check_regular(os.fstat(fd), name)  # it may have been swapped since the stat
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:  # bounded reads: the size fstat reports is not trusted
            chunk = handle.read(MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        raise PreprocessError(f"The image file is larger than {MAX_FILE_BYTES // 2**20} MiB.")
    return data


def _shown(path: str | os.PathLike) -> str:
    """The path as quoted in messages, shortened so a hostile name cannot flood them."""
    text = os.fspath(path)
    text = text if isinstance(text, str) else text.decode(errors="replace")
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check_regular(info: os.stat_result, name: str) -> None:
    if stat.S_ISREG(info.st_mode):
        if info.st_size > MAX_FILE_BYTES:
            raise PreprocessError(f"The image file is larger than {MAX_FILE_BYTES // 2**20} MiB.")
        return
    kind = next((kind for test, kind in _KINDS if test(info.st_mode)), "not a file")
    raise PreprocessError(f"{name} is not a regular file (it is {kind}).")


def _open_failure(error: Exception, name: str) -> str:
    number = getattr(error, "errno", None)
    if number == errno.ELOOP:
        return f"{name} is a symbolic link loop, so there is no file to read."
    if number in (errno.ENOENT, errno.ENOTDIR):
        return f"No image file at {name}."
    if number in (errno.EACCES, errno.EPERM):
        return f"Permission denied reading {name}."
    if number == errno.ENAMETOOLONG:
        return "The file name is too long."
    return f"Cannot open {name} as a file."


def _decode(data: bytes) -> np.ndarray:
    """Encoded bytes -> reduced pixel array, refusing oversized pictures from their header."""
    if len(data) > MAX_FILE_BYTES:
        raise PreprocessError(f"The image file is larger than {MAX_FILE_BYTES // 2**20} MiB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # broken-file chatter
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # nested bombs too
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_size(image)
            image.draft(image.mode, _draft_box(image.size))  # JPEG decodes at 1/2..1/8 scale
            size = _decoded_bytes(image) * DECODE_COST.get(image.format or "", 1)
            if size > MAX_DECODED_BYTES:
                raise PreprocessError(
                    f"The image is {image.width}x{image.height} pixels, more than this demo "
                    "decodes; send a smaller picture."
                )
            if size <= BIG_DECODE_BYTES:
                return _loaded_array(image)
            if not _turns.acquire(timeout=BUSY_SECONDS):
                raise PreprocessError("The server is busy; please try again in a moment.")
            try:
                return _loaded_array(image)
            finally:
                _turns.release()
    except PreprocessError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PreprocessError("The image has too many pixels to decode safely.") from None
    except Exception:  # Pillow's decoders raise many types on hostile bytes
        raise PreprocessError("The file is not an image this demo can read.") from None


def _check_size(image: Image.Image) -> None:
    if image.width * image.height > MAX_PIXELS:
        raise PreprocessError(
            f"The image is {image.width}x{image.height} pixels, more than this demo "
            "decodes (a decompression-bomb guard); send a smaller picture."
        )


def _draft_box(size: tuple[int, int]) -> tuple[int, int]:
    """The smallest size whose longer side still covers WORK_SIDE: what a draft may go down to."""
    ratio = min(1.0, WORK_SIDE / max(size))
    return math.ceil(size[0] * ratio), math.ceil(size[1] * ratio)


def _decoded_bytes(image: Image.Image) -> int:
    """What decoding `image` will allocate, from its header (after any JPEG draft)."""
    depth = 1 if image.mode in ("1", "L", "P") else 2 if image.mode.startswith("I;16") else 4
    return image.width * image.height * depth  # Pillow keeps RGB, LA, CMYK in 4 bytes a pixel


def _loaded_array(image: Image.Image) -> np.ndarray:
    image.load()
    array = _pil_array(image)
    del image
    return array


def _pil_array(image: Image.Image) -> np.ndarray:
    """Pillow image -> upright uint8/int32/float32 array, 1..4 channels, reduced to <= WORK_SIDE."""
    _check_size(image)
    try:
        turn = _UPRIGHT.get(image.getexif().get(_ORIENTATION))
        small = _reduced(image, _mode_for(image), math.ceil(max(image.size) / WORK_SIDE))
        if turn is not None:
            small = small.transpose(turn)
        pixels = np.asarray(small)
    except Exception:  # an exotic mode Pillow cannot convert, or a lazily opened broken file
        raise PreprocessError(f"Cannot read a Pillow image in mode {image.mode}.") from None
    if small.mode != "I":
        return pixels
    pixels = pixels.astype(np.float32)
    peak = 65535.0 if pixels.size and pixels.max() > 255 else 255.0
    return np.clip(pixels / peak, 0.0, 1.0)


def _mode_for(image: Image.Image) -> str:
    if image.mode.startswith("I"):  # 16-bit greyscale PNG and friends
        return "I"
    if image.mode in ("L", "LA", "RGB", "RGBA", "F"):
        return image.mode
    alpha = "A" in image.getbands() or "transparency" in image.info
    return "RGBA" if alpha else "L" if image.mode == "1" else "RGB"


def _reduced(image: Image.Image, mode: str, factor: int) -> Image.Image:
    """Convert and box-reduce in horizontal bands (multiples of factor rows): small peak memory."""
    if factor <= 1:
        return image if image.mode == mode else image.convert(mode)
    rows = factor * max(1, BAND_PIXELS // (image.width * factor))
    width = math.ceil(image.width / factor)
    out = Image.new(mode, (width, math.ceil(image.height / factor)))
    for top in range(0, image.height, rows):
        band = image.crop((0, top, image.width, min(top + rows, image.height)))
        band = (band if band.mode == mode else band.convert(mode)).reduce(factor)
        out.paste(band, (0, top // factor))
    return out


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
