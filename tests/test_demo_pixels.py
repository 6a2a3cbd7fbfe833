"""demo.pixels as a public server needs it: regular files only, bounded reads, no decode it
cannot afford, phone photos upright, and big decodes taking turns."""

import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.paths import REPO
from demo import pixels
from demo.pixels import MAX_FILE_BYTES, PreprocessError, read_file, read_planes


def png_header_only(width: int, height: int, colour: int = 0) -> bytes:
    """A PNG that claims width x height pixels but carries no pixel data: a bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


HANG = 30.0  # seconds: a guard against a read that waits or decodes forever, not a timing


def refused(source: object, match: str) -> str:
    """The sentence a refused source gets; the match names the check that refused it."""
    started = time.perf_counter()
    with pytest.raises(PreprocessError, match=match) as caught:
        read_planes(source)
    assert time.perf_counter() - started < HANG
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    return message


# --- what may be read -------------------------------------------------------------------------


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert "not a regular file (it is a FIFO)" in refused(str(fifo), "not a regular file")


def test_devices_are_refused_unread():
    assert "(it is a device)" in refused("/dev/zero", "not a regular file")
    refused("/dev/urandom", "not a regular file")


def test_a_directory_is_refused(tmp_path):
    assert "(it is a directory)" in refused(tmp_path, "not a regular file")


def test_a_symlink_loop_has_its_own_sentence(tmp_path):
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    refused(tmp_path / "a.png", "symbolic link loop")


def test_missing_files_and_hostile_names_are_one_short_sentence(tmp_path):
    refused(tmp_path / "missing.png", "No image file")
    assert len(refused("x" * 5000, "too long")) < 100
    refused("bad\0path", "Cannot open")


def test_a_file_over_the_cap_is_refused_without_reading_it(tmp_path):
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as handle:
        handle.truncate(50 * 2**30)  # 50 GiB that occupy no disk
    refused(sparse, "larger than 10 MiB")


def test_reads_stop_at_the_cap_whatever_the_size_says(tmp_path):
    """/proc files report size 0 and still have content; a read must stop at the cap anyway."""
    data = read_file("/proc/self/status")
    assert 0 < len(data) <= MAX_FILE_BYTES
    assert os.stat("/proc/self/status").st_size == 0


def test_bytes_over_the_cap_are_refused():
    refused(b"\x89PNG" + bytes(MAX_FILE_BYTES), "larger than 10 MiB")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"])
def test_every_accepted_format_is_read(fmt):
    image = Image.new("L", (40, 40), 255)
    image.paste(0, (15, 5, 25, 35))
    luma, _ = read_planes(encoded(image, fmt))
    assert luma.shape == (40, 40) and luma[20, 20] < 0.2 and luma[20, 2] > 0.8


def test_webp_counts_its_decoder_buffers():
    """libwebp needs ~4x the picture: a 4096x4096 RGBA WebP is refused, 2048x2048 is read."""
    refused(encoded(Image.new("RGBA", (4096, 4096)), "WEBP"), "more than this demo decodes")
    assert read_planes(encoded(Image.new("RGBA", (2048, 2048)), "WEBP"))[0].shape == (1024, 1024)


def test_formats_that_run_helpers_or_decode_while_opening_are_not_opened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    refused(eps, "not an image")
    png = png_header_only(12_000, 12_000)  # an ICO decodes its embedded PNG at open()
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 22)
    refused(ico + png, "not an image")


# --- what may be decoded ----------------------------------------------------------------------


@pytest.mark.parametrize("side", [12_000, 30_000, 2**31 - 1])
def test_huge_headers_are_refused_before_decoding(side):
    refused(png_header_only(side, side), "pixels")


def test_a_picture_too_big_to_decode_is_refused_from_its_header():
    """6000x6000 RGB passes the pixel cap but would decode to 144 MB: refused unread."""
    assert pixels.MAX_PIXELS > 6000 * 6000
    refused(png_header_only(6000, 6000, colour=2), "more than this demo decodes")


def test_a_big_jpeg_decodes_at_a_reduced_scale():
    big = Image.new("L", (4096, 3072), 255)
    big.paste(0, (1800, 1000, 2300, 2100))
    image = Image.open(io.BytesIO(encoded(big, "JPEG", quality=80)))
    image.draft(image.mode, pixels._draft_box(image.size))
    assert image.size == (1024, 768)  # a quarter of each side: 1/16 of the memory
    luma, _ = read_planes(encoded(big, "JPEG", quality=80))
    assert luma.shape == (768, 1024) and luma.min() < 0.1 and luma.max() > 0.9


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "RGB", "RGBA", "I;16", "CMYK", "F"])
def test_band_reduction_equals_reducing_the_whole_picture(mode, monkeypatch):
    monkeypatch.setattr(pixels, "BAND_PIXELS", 5000)  # many bands, a partial last one
    rng = np.random.default_rng(7)
    image = Image.fromarray(rng.integers(0, 256, (1301, 2100, 3), np.uint8)).convert(mode)
    target = pixels._mode_for(image)
    whole = image.convert(target).reduce(3)
    banded = pixels._reduced(image, target, 3)
    assert banded.size == whole.size == (700, 434)
    assert np.array_equal(np.asarray(banded), np.asarray(whole))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_imageops(orientation, fmt):
    """A phone photo stored sideways reads upright: same pixels as ImageOps.exif_transpose."""
    pattern = np.zeros((30, 50), np.uint8)
    pattern[2:8, 3:20] = 255  # an asymmetric blob, so every transpose differs
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(Image.fromarray(pattern), fmt, exif=exif)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))), np.float32)
    luma, _ = read_planes(data)
    assert np.array_equal(luma, upright / 255)


def test_big_decodes_take_turns_and_a_long_wait_is_a_busy_message(monkeypatch):
    monkeypatch.setattr(pixels, "BUSY_SECONDS", 0.2)
    big = encoded(Image.new("L", (3000, 3000), 255))  # 9 MB decoded: a big decode
    small = encoded(Image.new("L", (300, 300), 255))
    taken = [pixels._turns.acquire(timeout=1) for _ in range(pixels.BIG_DECODES)]
    try:
        assert all(taken)
        refused(big, "busy")
        assert read_planes(small)[0].shape == (300, 300)  # small ones do not wait
    finally:
        for _ in taken:
            pixels._turns.release()
    assert read_planes(big)[0].shape == (1000, 1000)


# --- the CLI reads through the same code ------------------------------------------------------


def test_the_cli_gives_each_hostile_path_its_own_sentence(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    paths = ["/dev/zero", str(tmp_path / "fifo"), str(tmp_path), str(tmp_path / "loop")]
    done = subprocess.run(
        [sys.executable, "-m", "demo.predict", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard: a FIFO or a device must never be waited on
    )
    assert done.returncode == 1, done.stderr
    errors = [json.loads(line)["error"] for line in done.stdout.splitlines()]
    assert [e.split("(it is ")[-1] for e in errors[:3]] == [
        "a device).",
        "a FIFO).",
        "a directory).",
    ]
    assert all("not a regular file" in e for e in errors[:3])
    assert "symbolic link loop" in errors[3]
