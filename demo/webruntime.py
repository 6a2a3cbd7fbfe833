"""onnxruntime-web for the page: three files from npm's tarball, fetched once, verified, cached.

The page runs the ONNX model in the visitor's browser, so it needs onnxruntime-web's loader and
its WebAssembly. No npm or node: Python downloads the published tarball, checks it against npm's
sha512 integrity before opening it, and takes out only the exact regular files it
needs (no links, no other paths, each size-capped), each renamed into place whole. The
WebAssembly is stored gzipped (14.2 MB -> 3.7 MB: what a phone downloads); the page inflates it
with the browser's own DecompressionStream (demo/web/reader.js).

The page never waits for this: `fetch_in_background` runs the download in a thread under an
overall deadline, and until the files are there (or if they never come) the server reads the
drawings. Files found in the folder count only when their SHA-256 matches DIGESTS, and
`served_files` names exactly those files: nothing else in the folder is ever served.

    python -m demo.webruntime [--folder DIR]
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from http.client import HTTPException
from pathlib import Path

VERSION = "1.30.0"
TARBALL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"
INTEGRITY = (  # npm's dist.integrity for TARBALL: "sha512-" + base64 of the .tgz's sha512
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
)
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
DIGESTS = {  # SHA-256 of each file as the TARBALL above holds it (the .wasm before gzipping)
    FILES[0]: "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    FILES[1]: "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    FILES[2]: "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
}
URL_ENV, FOLDER_ENV = "HRNN_WEBRUNTIME_URL", "HRNN_WEBRUNTIME_DIR"  # a mirror; another folder
FETCH_SECONDS = 120.0  # the whole background download, start to end (35 MB at 300 kB/s)
READ_SECONDS = 20.0  # and any one network read
MEMBER = "package/dist/{}"  # where each of FILES sits in the tarball
MAX_TARBALL_BYTES = 96 * 2**20  # the real one is ~35 MB
MAX_FILE_BYTES = 32 * 2**20  # the largest of FILES (the .wasm) is ~14 MB
CHUNK = 2**20
GZIPPED = "ort-wasm-simd-threaded.wasm"  # kept only as <name>.gz: Gradio serves files as they are


def served_name(name: str) -> str:
    """The file's name in the folder, as the page fetches it."""
    return f"{name}.gz" if name == GZIPPED else name


SERVED = tuple(served_name(name) for name in FILES)


class RuntimeUnavailable(RuntimeError):
    """onnxruntime-web could not be fetched or verified; the message is one sentence."""


log = logging.getLogger("hrnn-mnist.webruntime")
_verified: dict[tuple, bool] = {}  # (path, size, mtime) -> digest matched: each file hashed once


def runtime_dir() -> Path:
    """The gitignored folder the files are kept in (one per version), or $HRNN_WEBRUNTIME_DIR."""
    chosen = os.environ.get(FOLDER_ENV)
    if chosen:
        return Path(chosen)
    return Path(__file__).resolve().parent / "web" / "vendor" / f"onnxruntime-web-{VERSION}"


def served_files(folder: Path | None = None) -> dict[str, Path]:
    """{name the page fetches: file} for the verified runtime; {} unless every file matches."""
    folder = runtime_dir() if folder is None else Path(folder)
    files = {served_name(name): folder / served_name(name) for name in FILES}
    if all(_matches(name, files[served_name(name)]) for name in FILES):
        return files
    return {}


def is_ready(folder: Path | None = None) -> bool:
    """Whether every file is there and matches its recorded SHA-256."""
    return bool(served_files(folder))


def _matches(name: str, path: Path) -> bool:
    """Whether path (a regular file, gunzipped for the .wasm) hashes to DIGESTS[name]."""
    try:
        info = path.lstat()
    except OSError:
        return False
    key = (str(path), info.st_size, info.st_mtime_ns, DIGESTS[name])
    if key not in _verified:
        _verified[key] = _digest(name, path) == DIGESTS[name]
    return _verified[key]


def _digest(name: str, path: Path) -> str | None:
    digest, size = hashlib.sha256(), 0
    try:
        if not path.is_file() or path.is_symlink():
            return None
        with open(path, "rb") as raw, gzip.open(raw) if name == GZIPPED else raw as data:
            while chunk := data.read(CHUNK):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    return None
                digest.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(reason).__name__


def _download(
    url: str, into, integrity: str, timeout: float, progress: bool, deadline: float
) -> None:
    """Stream url into the open file `into`, capped, and check its sha512 against integrity.

    `deadline` (time.monotonic()) bounds the whole download: a server that trickles is cut off.
    """
    digest, done = hashlib.sha512(), 0
    try:
        left = deadline - time.monotonic()
        with urllib.request.urlopen(url, timeout=max(0.01, min(timeout, left))) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.strip().isdigit() else 0
            read = getattr(response, "read1", response.read)  # what has arrived, not a full chunk
            while chunk := read(CHUNK):
                if time.monotonic() > deadline:
                    raise RuntimeUnavailable(f"could not download {url}: it took too long")
                done += len(chunk)
                if max(done, total) > MAX_TARBALL_BYTES:
                    raise RuntimeUnavailable(f"{url} is over the {MAX_TARBALL_BYTES} bytes allowed")
                digest.update(chunk)
                into.write(chunk)
                if progress:
                    of = f" / {total / 1e6:.1f}" if total else ""
                    print(f"\rdownloading {url}: {done / 1e6:.1f}{of} MB", end="", file=sys.stderr)
    except (OSError, ValueError, HTTPException) as error:  # URLError and timeouts are OSErrors
        raise RuntimeUnavailable(f"could not download {url}: {_reason(error)}") from None
    finally:
        if progress and done:
            print(file=sys.stderr)
    found = "sha512-" + base64.b64encode(digest.digest()).decode()
    if not hmac.compare_digest(found.encode(), integrity.encode()):
        raise RuntimeUnavailable(
            f"the download of {url} does not match its published sha512 (integrity)"
        )


def _members(tar: tarfile.TarFile, url: str) -> dict[str, tarfile.TarInfo]:
    """Each of FILES as its exact member, refused unless it is a non-empty, capped regular file."""
    members = {}
    for name in FILES:
        path = MEMBER.format(name)
        try:
            member = tar.getmember(path)
        except KeyError:
            raise RuntimeUnavailable(f"{url} lacks {path}") from None
        if not member.isreg():
            raise RuntimeUnavailable(f"{url} has {path} as a link or special file, not a file")
        if not 0 < member.size <= MAX_FILE_BYTES:
            raise RuntimeUnavailable(
                f"{url} has {path} of {member.size} bytes, not 1 to {MAX_FILE_BYTES}"
            )
        members[name] = member
    return members


def _extract(tarball, folder: Path, url: str) -> None:
    """Copy the members FILES into folder, all checked before any is written, each renamed whole."""
    temporary: list[str] = []
    try:
        with tarfile.open(fileobj=tarball, mode="r:gz") as tar:
            members = _members(tar, url)
            folder.mkdir(parents=True, exist_ok=True)
            for name, member in members.items():
                source = tar.extractfile(member)
                handle, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
                temporary.append(path)
                with os.fdopen(handle, "wb") as out:  # reads member.size bytes, no more
                    os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600, but any browser may read it
                    if name == GZIPPED:
                        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as z:
                            shutil.copyfileobj(source, z, CHUNK)
                    else:
                        shutil.copyfileobj(source, out, CHUNK)
                os.replace(path, folder / served_name(name))
                temporary.remove(path)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise RuntimeUnavailable(
            f"{url} is not a readable gzip tarball ({_reason(error)})"
        ) from None
    except OSError as error:
        raise RuntimeUnavailable(
            f"could not extract {url} into {folder}: {_reason(error)}"
        ) from None
    finally:
        for path in temporary:
            Path(path).unlink(missing_ok=True)


def ensure(
    folder: Path | None = None,
    url: str | None = None,
    integrity: str = INTEGRITY,
    timeout: float = READ_SECONDS,
    progress: bool = False,
    deadline: float | None = None,
) -> Path:
    """The folder holding FILES, downloading them first unless they are there and verified.

    `deadline` is the most seconds the download may take in all (None: no overall bound).
    """
    folder = runtime_dir() if folder is None else Path(folder)
    url = url or os.environ.get(URL_ENV) or TARBALL
    if is_ready(folder):
        return folder
    until = time.monotonic() + (deadline if deadline is not None else 10**9)
    try:  # an unnamed file next to folder: gone when closed, even after a crash
        folder.parent.mkdir(parents=True, exist_ok=True)
        tarball = tempfile.TemporaryFile(dir=folder.parent)  # noqa: SIM115 (closed below)
    except OSError as error:
        raise RuntimeUnavailable(f"could not write in {folder.parent}: {_reason(error)}") from None
    with tarball:
        _download(url, tarball, integrity, timeout, progress, until)
        tarball.seek(0)
        _extract(tarball, folder, url)
    if not is_ready(folder):
        raise RuntimeUnavailable(f"the files from {url} do not match their recorded SHA-256")
    return folder


def fetch_in_background(deadline: float = FETCH_SECONDS, **options) -> threading.Thread:
    """Start fetching the runtime in a daemon thread and return at once; the page never waits.

    Until the thread has put verified files in place, the server reads every drawing.
    """

    def fetch() -> None:
        try:
            folder = ensure(deadline=deadline, **options)
        except RuntimeUnavailable as error:
            log.warning("drawings will be read on the server: %s", error)
        else:
            log.info("onnxruntime-web is ready in %s", folder.name)

    thread = threading.Thread(target=fetch, name="onnxruntime-web fetch", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    """Fetch the files (if needed) and list them; 1 with the sentence when that fails."""
    parser = argparse.ArgumentParser(prog="python -m demo.webruntime", description=__doc__)
    parser.add_argument("--folder", type=Path, help="default: demo/web/vendor/<version>/")
    args = parser.parse_args(argv)
    try:
        folder = ensure(args.folder, url=TARBALL, integrity=INTEGRITY, progress=True)
    except RuntimeUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    for name in SERVED:
        size = (folder / name).stat().st_size
        print(f"{name}  " + (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"))
    print(f"in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
