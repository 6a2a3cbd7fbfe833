"""onnxruntime-web for the page: three files from npm's tarball, fetched once, verified, cached.

The page runs the ONNX model in the visitor's browser, so it needs onnxruntime-web's loader and
its WebAssembly. No npm or node: Python downloads the published tarball, checks it against npm's
sha512 integrity before opening it, and takes out only the exact regular files it
needs (no links, no other paths, each size-capped), each renamed into place whole. The
WebAssembly is stored gzipped (14.2 MB -> 3.7 MB: what a phone downloads); the page inflates it
with the browser's own DecompressionStream (demo/web/reader.js).

    python -m demo.webruntime [--folder DIR]
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import os
import shutil
import sys
import tarfile
import tempfile
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


def runtime_dir() -> Path:
    """The gitignored folder the app serves the files from (one per version)."""
    return Path(__file__).resolve().parent / "web" / "vendor" / f"onnxruntime-web-{VERSION}"


def is_ready(folder: Path | None = None) -> bool:
    """Whether every file is there and non-empty (files only ever appear whole)."""
    folder = runtime_dir() if folder is None else Path(folder)
    return all((folder / name).is_file() and (folder / name).stat().st_size > 0 for name in SERVED)


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(reason).__name__


def _download(url: str, into, integrity: str, timeout: float, progress: bool) -> None:
    """Stream url into the open file `into`, capped, and check its sha512 against integrity."""
    digest, done = hashlib.sha512(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.strip().isdigit() else 0
            while chunk := response.read(CHUNK):
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
    url: str = TARBALL,
    integrity: str = INTEGRITY,
    timeout: float = 60.0,
    progress: bool = False,
) -> Path:
    """The folder holding FILES, downloading them first unless they are already there."""
    folder = runtime_dir() if folder is None else Path(folder)
    if is_ready(folder):
        return folder
    try:  # an unnamed file next to folder: gone when closed, even after a crash
        folder.parent.mkdir(parents=True, exist_ok=True)
        tarball = tempfile.TemporaryFile(dir=folder.parent)  # noqa: SIM115 (closed below)
    except OSError as error:
        raise RuntimeUnavailable(f"could not write in {folder.parent}: {_reason(error)}") from None
    with tarball:
        _download(url, tarball, integrity, timeout, progress)
        tarball.seek(0)
        _extract(tarball, folder, url)
    return folder


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
