"""demo.webruntime: onnxruntime-web's three files come out of a verified tarball, whole, and
nothing else does; every failure is one RuntimeUnavailable sentence; the fetch never holds the
page up and ends by its deadline; only files matching their recorded SHA-256 are served.
Offline: file:// tarballs and local sockets."""

import base64
import gzip
import hashlib
import io
import os
import socket
import tarfile
import threading
import time
from pathlib import Path

import pytest

from demo import webruntime
from demo.webruntime import FILES, GZIPPED, SERVED, RuntimeUnavailable, ensure, is_ready

CONTENT = {name: f"// {name}\n".encode() * (i + 1) for i, name in enumerate(FILES)}


@pytest.fixture(autouse=True)
def digests(monkeypatch):
    """The test tarballs' files stand in for the real ones: their digests are the recorded ones."""
    fake = {name: hashlib.sha256(CONTENT[name]).hexdigest() for name in FILES}
    monkeypatch.setattr(webruntime, "DIGESTS", fake)
    monkeypatch.delenv(webruntime.URL_ENV, raising=False)
    monkeypatch.delenv(webruntime.FOLDER_ENV, raising=False)
    return fake


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _tgz(entries: list[tuple[str, bytes | tarfile.TarInfo]]) -> bytes:
    """A gzip tarball of (name, bytes) files and ready-made TarInfo entries (links)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in entries:
            if isinstance(body, tarfile.TarInfo):
                tar.addfile(body)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def _files(skip: str = "") -> list[tuple[str, bytes]]:
    return [(f"package/dist/{n}", CONTENT[n]) for n in FILES if n != skip]


def _link(name: str, target: str, kind: bytes) -> tuple[str, tarfile.TarInfo]:
    """A link entry; its header claims a size so that only its type can give it away."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, 100
    return name, info


@pytest.fixture
def serve(tmp_path):
    """Write bytes as a tarball; return (url, integrity) for it."""

    def write(data: bytes) -> tuple[str, str]:
        path = tmp_path / "registry" / "onnxruntime-web.tgz"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path.as_uri(), _integrity(data)

    return write


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "vendor" / "onnxruntime-web-test"


def _leftovers(folder: Path) -> list[str]:
    """Whatever sits next to or in folder besides the three files: temp files, strays."""
    found = (
        [p.name for p in folder.parent.iterdir() if p != folder] if folder.parent.exists() else []
    )
    if folder.exists():
        found += [p.name for p in folder.iterdir() if p.name not in SERVED]
    return found


def test_runtime_dir_is_the_versioned_vendor_folder():
    path = webruntime.runtime_dir()
    assert path.name == f"onnxruntime-web-{webruntime.VERSION}"
    assert path.parent == Path(webruntime.__file__).resolve().parent / "web" / "vendor"
    assert webruntime.VERSION in webruntime.TARBALL


def test_ensure_extracts_exactly_the_three_files(serve, folder):
    extra = [("package/dist/other.js", b"other"), ("package/package.json", b"{}")]
    url, integrity = serve(_tgz(extra + _files()))
    assert not is_ready(folder)
    assert ensure(folder, url=url, integrity=integrity) == folder
    assert is_ready(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(SERVED)
    for name, served in zip(FILES, SERVED, strict=True):
        data = (folder / served).read_bytes()
        assert (gzip.decompress(data) if name == GZIPPED else data) == CONTENT[name]
        assert (folder / served).stat().st_mode & 0o777 == 0o644  # readable by the server
    assert served == f"{GZIPPED}.gz"  # the WebAssembly travels gzipped, the page inflates it
    assert _leftovers(folder) == []


def _place(folder: Path) -> None:
    """The three files as the extraction leaves them (the .wasm gzipped)."""
    folder.mkdir(parents=True)
    for name in FILES:
        data = gzip.compress(CONTENT[name]) if name == GZIPPED else CONTENT[name]
        (folder / webruntime.served_name(name)).write_bytes(data)


def test_ready_folder_is_returned_without_a_download(tmp_path, folder):
    _place(folder)
    missing = (tmp_path / "nowhere.tgz").as_uri()
    assert ensure(folder, url=missing, integrity="sha512-wrong") == folder


def test_an_empty_or_foreign_file_is_not_ready(folder):
    _place(folder)
    assert is_ready(folder)
    (folder / SERVED[-1]).write_bytes(b"")
    assert not is_ready(folder)
    (folder / SERVED[-1]).write_bytes(b"x")  # present and non-empty is not enough
    assert not is_ready(folder)


def test_wrong_integrity_is_refused_before_anything_is_extracted(serve, folder):
    url, _ = serve(_tgz(_files()))
    with pytest.raises(RuntimeUnavailable, match=r"sha512 \(integrity\)"):
        ensure(folder, url=url, integrity=_integrity(b"another tarball"))
    assert not folder.exists()
    assert _leftovers(folder) == []


def test_a_missing_file_is_named(serve, folder):
    url, integrity = serve(_tgz(_files(skip=FILES[1])))
    with pytest.raises(RuntimeUnavailable, match=f"lacks package/dist/{FILES[1]}"):
        ensure(folder, url=url, integrity=integrity)
    assert not is_ready(folder)
    assert not folder.exists()  # nothing written when any file is missing


def test_a_traversing_member_is_never_written(tmp_path, serve, folder):
    hostile = [("package/dist/../../evil.mjs", b"evil"), ("../evil.mjs", b"evil")]
    url, integrity = serve(_tgz(hostile + _files()))
    ensure(folder, url=url, integrity=integrity)
    assert is_ready(folder)
    assert not list(tmp_path.parent.rglob("evil.mjs"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(SERVED)


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_a_link_in_place_of_a_file_is_refused_not_followed(serve, folder, kind):
    name = FILES[0]
    link = _link(f"package/dist/{name}", "/etc/passwd", kind)
    url, integrity = serve(_tgz([*_files(skip=name), link]))
    with pytest.raises(RuntimeUnavailable, match=f"{name} as a link or special file"):
        ensure(folder, url=url, integrity=integrity)
    assert not is_ready(folder)
    assert not (folder / name).is_symlink() and not (folder / name).exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_a_later_link_with_a_files_name_wins_and_is_refused(serve, folder, kind):
    """tar keeps the last member of a name; a link to another member appended after the real
    file must not pass (followed, it would hand out other.js as the .wasm)."""
    link = _link(f"package/dist/{FILES[2]}", "package/dist/other.js", kind)
    url, integrity = serve(_tgz([("package/dist/other.js", b"other"), *_files(), link]))
    with pytest.raises(RuntimeUnavailable, match=f"{FILES[2]} as a link or special file"):
        ensure(folder, url=url, integrity=integrity)
    assert not folder.exists()


def test_an_oversized_or_empty_member_is_refused(serve, folder, monkeypatch):
    url, integrity = serve(_tgz(_files()))
    monkeypatch.setattr(webruntime, "MAX_FILE_BYTES", len(CONTENT[FILES[2]]) - 1)
    with pytest.raises(RuntimeUnavailable, match=f"{FILES[2]} of {len(CONTENT[FILES[2]])} bytes"):
        ensure(folder, url=url, integrity=integrity)
    monkeypatch.undo()
    url, integrity = serve(_tgz([*_files(skip=FILES[0]), (f"package/dist/{FILES[0]}", b"")]))
    with pytest.raises(RuntimeUnavailable, match=f"{FILES[0]} of 0 bytes"):
        ensure(folder, url=url, integrity=integrity)
    assert not is_ready(folder)


def test_a_failure_mid_extraction_leaves_no_half_files(serve, folder, monkeypatch):
    url, integrity = serve(_tgz(_files()))
    real_replace, calls = os.replace, []

    def replace_then_fail(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(webruntime.os, "replace", replace_then_fail)
    with pytest.raises(RuntimeUnavailable, match="could not extract .* No space left"):
        ensure(folder, url=url, integrity=integrity)
    assert not is_ready(folder)
    assert _leftovers(folder) == []  # the .part files are gone


def test_an_unreachable_url_is_one_sentence(tmp_path, folder):
    url = (tmp_path / "missing.tgz").as_uri()
    with pytest.raises(RuntimeUnavailable, match=f"^could not download {url}: ") as caught:
        ensure(folder, url=url, integrity=_integrity(b""))
    assert "\n" not in str(caught.value) and "urlopen error" not in str(caught.value)
    assert _leftovers(folder) == []


@pytest.mark.timeout(10)
def test_a_silent_server_times_out(folder):
    with socket.socket() as server:  # accepts the connection (backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/ort.tgz"
        with pytest.raises(RuntimeUnavailable, match=f"^could not download {url}: .*timed out"):
            ensure(folder, url=url, integrity=_integrity(b""), timeout=0.3)
    assert _leftovers(folder) == []


def test_a_bad_url_is_refused(folder):
    with pytest.raises(RuntimeUnavailable, match="could not download"):
        ensure(folder, url="not a url", integrity=_integrity(b""))


def test_bytes_that_are_not_a_tarball_are_refused(serve, folder):
    url, integrity = serve(os.urandom(4096))
    with pytest.raises(RuntimeUnavailable, match="not a readable gzip tarball"):
        ensure(folder, url=url, integrity=integrity)
    assert not is_ready(folder)
    assert _leftovers(folder) == []


def test_a_too_large_download_is_refused(serve, folder, monkeypatch):
    data = _tgz(_files())
    url, integrity = serve(data)
    monkeypatch.setattr(webruntime, "MAX_TARBALL_BYTES", len(data) - 1)
    with pytest.raises(RuntimeUnavailable, match=f"over the {len(data) - 1} bytes"):
        ensure(folder, url=url, integrity=integrity)
    assert _leftovers(folder) == []


def test_a_too_large_download_without_a_length_is_cut_off(folder, monkeypatch):
    """A server that sends no Content-Length is stopped by counting, not trusted."""
    served = []

    class Long(io.RawIOBase):  # 10 chunks, no Content-Length
        headers: dict = {}

        def read(self, size=-1):
            served.append(size)
            return b"\0" * size if len(served) <= 10 else b""

    monkeypatch.setattr(webruntime, "MAX_TARBALL_BYTES", 3 * webruntime.CHUNK)
    monkeypatch.setattr(webruntime.urllib.request, "urlopen", lambda url, timeout: Long())
    with pytest.raises(RuntimeUnavailable, match=f"over the {3 * webruntime.CHUNK} bytes"):
        ensure(folder, url="https://example.invalid/ort.tgz", integrity=_integrity(b""))
    assert len(served) == 4
    assert _leftovers(folder) == []


def test_a_declared_length_over_the_cap_is_refused_at_once(folder, monkeypatch):
    served = []

    class Huge(io.RawIOBase):
        headers = {"Content-Length": str(10**12)}

        def read(self, size=-1):
            served.append(size)
            return b"\0" * size

    monkeypatch.setattr(webruntime.urllib.request, "urlopen", lambda url, timeout: Huge())
    with pytest.raises(RuntimeUnavailable, match="over the 100663296 bytes"):
        ensure(folder, url="https://example.invalid/ort.tgz", integrity=_integrity(b""))
    assert len(served) <= 1  # at most the first chunk, never the terabyte


def test_main_fetches_and_lists_the_files(serve, tmp_path, monkeypatch, capsys):
    url, integrity = serve(_tgz(_files()))
    monkeypatch.setattr(webruntime, "TARBALL", url)
    monkeypatch.setattr(webruntime, "INTEGRITY", integrity)
    assert webruntime.main(["--folder", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for name in SERVED:
        assert name in out
    assert str(tmp_path / "out") in out and "KB" in out
    assert is_ready(tmp_path / "out")


def test_main_says_why_it_failed(serve, tmp_path, monkeypatch, capsys):
    url, _ = serve(_tgz(_files()))
    monkeypatch.setattr(webruntime, "TARBALL", url)
    monkeypatch.setattr(webruntime, "INTEGRITY", _integrity(b"something else"))
    assert webruntime.main(["--folder", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"the download of {url} does not match its published sha512 (integrity)"
    assert "Traceback" not in "".join(err)


# --- verification of what is on disk, and what is served ---------------------------------------


def test_only_files_matching_their_digests_are_ready_and_served(serve, folder):
    url, integrity = serve(_tgz(_files()))
    ensure(folder, url=url, integrity=integrity)
    (folder / "secret.txt").write_text("not for the page")
    served = webruntime.served_files(folder)
    assert sorted(served) == sorted(SERVED) and all(p.parent == folder for p in served.values())
    target = folder / SERVED[0]
    target.write_bytes(b"// tampered, same folder, same name\n")
    assert webruntime.served_files(folder) == {} and not is_ready(folder)
    ensure(folder, url=url, integrity=integrity)  # a file that does not match is fetched anew
    assert target.read_bytes() == CONTENT[FILES[0]]


def test_a_link_in_the_folder_is_not_served(serve, folder, tmp_path):
    url, integrity = serve(_tgz(_files()))
    ensure(folder, url=url, integrity=integrity)
    real = tmp_path / "elsewhere.mjs"
    real.write_bytes(CONTENT[FILES[0]])
    (folder / SERVED[0]).unlink()
    (folder / SERVED[0]).symlink_to(real)
    assert webruntime.served_files(folder) == {}


def test_the_real_runtime_is_recorded_by_its_digests():
    assert set(webruntime.DIGESTS) == set(FILES)


def test_the_folder_and_a_mirror_come_from_the_environment(monkeypatch, tmp_path, serve):
    url, integrity = serve(_tgz(_files()))
    monkeypatch.setenv(webruntime.FOLDER_ENV, str(tmp_path / "elsewhere"))
    monkeypatch.setenv(webruntime.URL_ENV, url)
    assert webruntime.runtime_dir() == tmp_path / "elsewhere"
    assert ensure(integrity=integrity) == tmp_path / "elsewhere" and is_ready()


# --- the deadline: silent and trickling servers ----------------------------------------------


def _trickler(server: socket.socket, stop: threading.Event) -> None:
    """Answer one request with headers and then one byte every 0.1 s (until stopped)."""
    connection, _ = server.accept()
    with connection:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        while not stop.is_set():
            try:
                connection.sendall(b"\0")
            except OSError:
                return
            time.sleep(0.1)


@pytest.mark.timeout(30)
def test_a_trickling_server_is_cut_off_at_the_deadline(folder):
    stop = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/ort.tgz"
        feeder = threading.Thread(target=_trickler, args=(server, stop), daemon=True)
        feeder.start()
        try:
            with pytest.raises(RuntimeUnavailable, match="took too long"):
                ensure(folder, url=url, integrity=_integrity(b""), deadline=1.0)
        finally:
            stop.set()
            feeder.join()
    assert _leftovers(folder) == []


@pytest.mark.timeout(30)
def test_the_background_fetch_returns_at_once_and_gives_up_by_its_deadline(folder, caplog):
    with socket.socket() as server:  # accepts the connection (backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/ort.tgz"
        thread = webruntime.fetch_in_background(deadline=1.0, folder=folder, url=url)
        assert thread.daemon and thread.is_alive()  # the caller goes on serving meanwhile
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert "drawings will be read on the server" in caplog.text
    assert not is_ready(folder)


def test_the_background_fetch_of_a_ready_folder_changes_nothing(serve, folder):
    url, integrity = serve(_tgz(_files()))
    ensure(folder, url=url, integrity=integrity)
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    webruntime.fetch_in_background(folder=folder, url="http://127.0.0.1:9/never").join(10)
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == before
