"""train.data: IDX files are read whole or refused with a message that names the file
and what is wrong; downloads land only once verified; the data folder is found by rule."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from train_support import idx_bytes, sample_digits, write_tiny_mnist

from train import data
from train.data import DataError, download_file, load_split, parse_idx, resolve_data_dir

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x1c\x00\x00\x00\x1c\x08\x00"


@pytest.fixture
def mnist(tmp_path, monkeypatch) -> Path:
    """A tiny MNIST folder whose checksums train.data accepts for this test only."""
    folder = tmp_path / "mnist"
    for name, digest in write_tiny_mnist(folder, train=64, test=32).items():
        monkeypatch.setitem(data.PAYLOAD_SHA256, name, digest)
    return folder


def images_idx(count: int = 5) -> bytes:
    return idx_bytes(sample_digits(count)[0])


# --- parse_idx: the format -------------------------------------------------------------


def test_reads_raw_and_gzip_idx_alike():
    images, labels = sample_digits(5)
    for raw in (idx_bytes(images), gzip.compress(idx_bytes(images))):
        decoded = parse_idx(raw)
        assert decoded.dtype == np.uint8 and decoded.shape == (5, 28, 28)
        np.testing.assert_array_equal(decoded, images)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels)), labels)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x01\x02\x08\x01" + bytes(8), "not an IDX file"),
        (PNG_BYTES, "not an IDX file"),
        (b"\x00\x00", "not an IDX file"),
        (b"", "not an IDX file"),
        (b"\x00\x00\x0d\x01" + (4).to_bytes(4, "big") + bytes(16), "not unsigned bytes"),
        (b"\x00\x00\x08\x00", "header is cut short"),
        (b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"), "header is cut short"),
    ],
    ids=["bad-magic", "png", "two-bytes", "empty", "float-data", "zero-dims", "short-header"],
)
def test_refuses_what_is_not_an_unsigned_byte_idx_file(raw, expected):
    with pytest.raises(DataError, match=expected) as caught:
        parse_idx(raw, "some/file")
    assert str(caught.value).startswith("some/file: ")


def test_says_a_file_is_truncated_and_by_how_much():
    with pytest.raises(DataError) as caught:
        parse_idx(images_idx(5)[:-10], "train-images")
    assert str(caught.value) == (
        "train-images: truncated: header says 5x28x28 = 3920 bytes, found 3910"
    )


def test_says_a_file_has_trailing_bytes():
    with pytest.raises(DataError, match="has trailing bytes: header says 5x28x28"):
        parse_idx(images_idx(5) + b"\x00", "train-images")


def test_gzip_holding_a_foreign_file_is_still_foreign():
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(gzip.compress(PNG_BYTES))


def broken_gzips() -> dict[str, bytes]:
    whole = gzip.compress(images_idx(5))
    return {
        "cut-short": whole[: len(whole) // 2],
        "bad-crc": whole[:-8] + bytes(8),
        "corrupt-deflate": whole[:10] + b"\xff" * 8 + whole[18:],
        "header-only": whole[:10],
    }


@pytest.mark.parametrize("name", sorted(broken_gzips()))
def test_broken_gzip_is_a_data_error(name):
    with pytest.raises(DataError, match="broken gzip data"):
        parse_idx(broken_gzips()[name], "x.gz")


# --- load_split: a folder of four files --------------------------------------------------


def test_load_split_reads_gzip_and_raw_files(mnist):
    train_x, train_y = load_split("train", mnist, download=False)  # written gzipped
    test_x, test_y = load_split("test", mnist, download=False)  # written raw
    assert (train_x.shape, test_x.shape) == ((64, 28, 28), (32, 28, 28))
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int64
    np.testing.assert_array_equal(test_x, sample_digits(32, start=64)[0])
    np.testing.assert_array_equal(train_y, sample_digits(64)[1])


def test_unknown_split_is_refused(mnist):
    with pytest.raises(DataError, match="unknown split 'validation'"):
        load_split("validation", mnist, download=False)


def test_missing_files_without_downloads_name_the_folder_and_the_variable(tmp_path):
    with pytest.raises(DataError) as caught:
        load_split("test", tmp_path / "empty", download=False)
    message = str(caught.value)
    assert str(tmp_path / "empty") in message
    assert "HRNN_MNIST_DATA" in message and "t10k-images-idx3-ubyte" in message


def test_a_corrupted_file_fails_its_checksum(mnist):
    path = mnist / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # one pixel: still a well-formed IDX file
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum does not match MNIST's t10k-images"):
        load_split("test", mnist, download=False)
    images, _ = load_split("test", mnist, download=False, verify=False)
    assert images[-1, -1, -1] == raw[-1]


def test_real_mnist_checksums_refuse_self_made_files(tmp_path):
    write_tiny_mnist(tmp_path, train=8, test=8)  # no monkeypatch: the real checksums apply
    with pytest.raises(DataError, match="checksum does not match"):
        load_split("test", tmp_path, download=False)


def test_a_broken_gzip_in_the_folder_is_a_data_error(mnist):
    path = mnist / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz"):
        load_split("train", mnist, download=False)


def test_images_and_labels_must_agree_in_number(mnist, monkeypatch):
    labels = idx_bytes(sample_digits(63, start=64)[1])
    (mnist / "t10k-labels-idx1-ubyte").write_bytes(labels)
    monkeypatch.setitem(data.PAYLOAD_SHA256, "t10k-labels-idx1-ubyte", sha256(labels))
    with pytest.raises(DataError, match="test: 32 images but labels of shape \\(63,\\)"):
        load_split("test", mnist, download=False)


def test_images_must_be_28_by_28(mnist, monkeypatch):
    images = idx_bytes(np.zeros((32, 28, 27), np.uint8))
    (mnist / "t10k-images-idx3-ubyte").write_bytes(images)
    monkeypatch.setitem(data.PAYLOAD_SHA256, "t10k-images-idx3-ubyte", sha256(images))
    with pytest.raises(DataError, match="expected \\(N, 28, 28\\)"):
        load_split("test", mnist, download=False)


def test_labels_must_be_digits(mnist, monkeypatch):
    labels = sample_digits(32, start=64)[1].copy()
    labels[5] = 255
    raw = idx_bytes(labels)
    (mnist / "t10k-labels-idx1-ubyte").write_bytes(raw)
    monkeypatch.setitem(data.PAYLOAD_SHA256, "t10k-labels-idx1-ubyte", sha256(raw))
    with pytest.raises(DataError, match="label 255 found"):
        load_split("test", mnist, download=False)


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- where the data lives ----------------------------------------------------------------


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HRNN_MNIST_DATA", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir() == tmp_path / "from-env"
    monkeypatch.setenv("HRNN_MNIST_DATA", "")
    assert resolve_data_dir() == data.DEFAULT_DATA_DIR
    monkeypatch.delenv("HRNN_MNIST_DATA")
    assert resolve_data_dir() == Path.home() / ".cache" / "hrnn-mnist" / "mnist"


# --- downloads, offline: mirrors are file:// folders -------------------------------------

NAME = "t10k-labels-idx1-ubyte"


@pytest.fixture
def mirrors(tmp_path) -> dict:
    """A good mirror, one serving a corrupted copy, one serving a cut-short gzip, one empty."""
    payload = idx_bytes(sample_digits(20)[1])
    folders = {kind: tmp_path / "mirror" / kind for kind in ("good", "bad", "cut", "empty")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    (folders["good"] / f"{NAME}.gz").write_bytes(gzip.compress(payload))
    (folders["bad"] / f"{NAME}.gz").write_bytes(gzip.compress(payload[:-1] + b"\x09"))
    (folders["cut"] / f"{NAME}.gz").write_bytes(gzip.compress(payload)[:-20])
    urls = {kind: folder.as_uri() + "/" for kind, folder in folders.items()}
    return {"urls": urls, "payload": payload, "checksums": {NAME: sha256(payload)}}


def fetch(mirrors: dict, *kinds: str, into: Path) -> Path:
    urls = tuple(mirrors["urls"][kind] for kind in kinds)
    return download_file(NAME, into, urls, mirrors["checksums"], progress=False)


def test_download_skips_a_mirror_with_a_bad_copy(mirrors, tmp_path):
    target = fetch(mirrors, "bad", "good", into=tmp_path / "data")
    assert target == tmp_path / "data" / f"{NAME}.gz"
    assert gzip.decompress(target.read_bytes()) == mirrors["payload"]
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no .part left


@pytest.mark.parametrize("kinds", [("empty", "good"), ("cut", "good")], ids=["missing", "cut"])
def test_download_moves_on_from_a_mirror_that_fails(mirrors, tmp_path, kinds):
    target = fetch(mirrors, *kinds, into=tmp_path / "data")
    assert gzip.decompress(target.read_bytes()) == mirrors["payload"]


def test_download_from_only_bad_mirrors_leaves_nothing_behind(mirrors, tmp_path):
    folder = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        fetch(mirrors, "bad", "empty", "cut", into=folder)
    message = str(caught.value)
    assert message.startswith(f"could not download {NAME}: ")
    assert "checksum mismatch" in message
    for url in mirrors["urls"].values():
        if "good" not in url:
            assert url + f"{NAME}.gz" in message
    assert list(folder.iterdir()) == []  # neither a .part file nor the target


def test_a_downloaded_file_loads_like_a_local_one(mirrors, tmp_path, monkeypatch):
    monkeypatch.setitem(data.PAYLOAD_SHA256, NAME, mirrors["checksums"][NAME])
    target = fetch(mirrors, "good", into=tmp_path / "data")
    np.testing.assert_array_equal(parse_idx(target.read_bytes()), sample_digits(20)[1])
    assert data.dataset_checksums(tmp_path / "data") == {NAME: mirrors["checksums"][NAME]}


def test_the_validation_split_is_fixed_disjoint_and_complete():
    from train.data import validation_split

    val, train = validation_split(1000, 100)
    again, _ = validation_split(1000, 100)
    assert np.array_equal(val, again) and len(val) == 100 and len(train) == 900
    assert not set(val) & set(train) and set(val) | set(train) == set(range(1000))
    assert np.all(np.diff(val) > 0)  # sorted: digits keep the file's order
