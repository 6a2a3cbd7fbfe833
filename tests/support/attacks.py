"""Hostile requests against a live app on loopback, plus a valid request.

Shared by the regression suite (tests/e2e/test_attacks.py) and the soak (tests.support.soak): each
attack sends one hostile request the way an outsider would (raw HTTP, no gradio_client) and
returns an Outcome saying how the server answered; `refused` says it was turned away properly.
The crowd attacks (many requests at once from one visitor, slow bodies) are in
tests.support.crowds.
"""

import atexit
import base64
import io
import json
import os
import select
import shutil
import socket
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import httpx
from PIL import Image, ImageDraw

from bench.paths import REPO

API = "gradio_api"
NOT_UPLOADED = "only files uploaded to it"  # demo.guard's sentence, as the page shows it
HANG_SECONDS = 60.0  # no answer within this is a hang


@dataclass
class Outcome:
    name: str
    status: int  # HTTP status of the request that decided (0: no answer)
    text: str  # the page's status line, or the refusal's detail
    seconds: float
    refused: bool  # turned away with a 4xx or a one-sentence message, as intended


def post_json(client: httpx.Client, route: str, body: object) -> httpx.Response:
    return client.post(f"{API}/{route}", json=body, timeout=HANG_SECONDS)


def upload(client: httpx.Client, data: bytes, name: str = "digit.png") -> str:
    """Upload like the page does; the server-side path Gradio recorded."""
    reply = client.post(f"{API}/upload", files={"files": (name, data)}, timeout=HANG_SECONDS)
    reply.raise_for_status()
    return reply.json()[0]


def classify(client: httpx.Client, payload: object, model: object = "float32") -> tuple[int, str]:
    """Run /classify through the queue (/call); (HTTP status, page status line or error)."""
    reply = post_json(client, "call/classify", {"data": [payload, model]})
    if reply.status_code != 200:
        return reply.status_code, reply.text
    event = reply.json()["event_id"]
    kind = ""
    url = f"{API}/call/classify/{event}"
    with client.stream("GET", url, timeout=HANG_SECONDS) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                text = line[5:].strip()
                if kind == "error":  # the handler raised: the app let an exception out
                    return 500, f"error event: {text}"
                return 200, _said(json.loads(text)[-1])
    return stream.status_code, "the event stream ended without a result"


def read_drawing(client: httpx.Client, ink: object, model: object = "float32") -> tuple[int, str]:
    """A drawing read as the page makes it (outside the queue); (HTTP status, answer or error)."""
    drawing = event_ids(client).get("on_drawing")
    body = {"data": [ink, model], "fn_index": drawing, "session_hash": "attacker1"}
    reply = post_json(client, "run/predict", body)
    if reply.status_code != 200:
        return reply.status_code, reply.text
    return 200, _said(reply.json()["data"][0])


def _said(output: object) -> str:
    """The page's answer as 'state: message' (answer objects) or its status line (markdown)."""
    if isinstance(output, dict):
        return f"{output.get('state')}: {output.get('message')}"
    return str(output)


def was_read(text: str) -> bool:
    return text.startswith("reading:") or (text.startswith("**") and "Cannot read" not in text)


def was_refused(text: str) -> bool:
    return text.startswith("error:") or "Cannot read this input" in text


@cache
def digit_png() -> bytes:
    """A drawn 7 as a small PNG: what a valid upload looks like."""
    return (REPO / "demo" / "examples" / "drawn_7.png").read_bytes()


def small_digit(side: int = 40) -> dict:
    """One digit of a drawn number as the page sends it: its own ink PNG and its box."""
    buffer = io.BytesIO()
    Image.new("RGBA", (side, side)).save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"ink": url, "box": [10, 10, side, side]}


@cache
def bomb_png(side: int = 12_000) -> bytes:
    """A real side x side greyscale PNG (all paper) that compresses to ~140 kB."""
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(b"\0" * (side + 1)) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    )


@cache
def worst_legal_png() -> bytes:
    """The costliest upload the server accepts: 4096x4096 RGBA (64 MiB decoded), a digit on it."""
    image = Image.new("RGBA", (4096, 4096), (255, 255, 255, 255))
    ImageDraw.Draw(image).line([(1200, 900), (2900, 900), (1700, 3300)], fill="black", width=260)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def valid(client: httpx.Client, data: bytes | None = None) -> Outcome:
    """Upload a digit and read it, as a visitor does; refused=False means it was read."""
    started = time.perf_counter()
    path = upload(client, data or digit_png())
    status, text = classify(client, {"path": path, "meta": {"_type": "gradio.FileData"}})
    read = status == 200 and was_read(text)
    return Outcome("valid", status, text, time.perf_counter() - started, not read)


def _timed(name: str, send: Callable[[], tuple[int, str]], expect: Callable) -> Outcome:
    started = time.perf_counter()
    try:
        status, text = send()
    except httpx.TransportError as error:  # the server cut an oversized body short: refused
        status, text = 0, f"connection closed: {type(error).__name__}"
    seconds = time.perf_counter() - started
    return Outcome(name, status, text[:300], seconds, bool(expect(status, text)))


def _page_refused(phrase: str) -> Callable:
    return lambda status, text: status == 200 and was_refused(text) and phrase in text


def _http_refused(*codes: int) -> Callable:
    return lambda status, text: status in codes


def _reply(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.text


@cache
def _fifo() -> str:
    """One FIFO per process, outside the upload folder (removed when the process exits)."""
    folder = tempfile.mkdtemp(prefix="hrnn-attack-")
    path = os.path.join(folder, "digit.png")
    os.mkfifo(path)
    atexit.register(shutil.rmtree, folder, True)
    return path


def raw_post(
    client: httpx.Client, route: str, body: Iterable[bytes], length: int | None, kind: str
) -> tuple[int, str]:
    """POST over a bare socket, stopping as soon as the server answers (as a browser does).

    httpx sends a whole body before reading the reply, which would time the client, not the
    server. length=None sends the body chunked, so only counting can stop it.
    """
    url = client.base_url
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    head = f"POST /{API}/{route} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: {kind}\r\n"
    with socket.create_connection((url.host, url.port), timeout=HANG_SECONDS) as sock:
        sock.sendall(f"{head}{framing}\r\n\r\n".encode())
        try:
            for chunk in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered
                frame = chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk)
                sock.sendall(frame)
            else:
                sock.sendall(b"" if length is not None else b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed while we were still sending
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.partition(b"\r\n\r\n")[2]) < _length(reply):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    status_line, _, rest = reply.partition(b"\r\n")
    parts = status_line.split()
    return (int(parts[1]) if len(parts) > 1 else 0), rest.partition(b"\r\n\r\n")[2].decode()


def _length(reply: bytes) -> int:
    """The Content-Length of a reply's headers (0 when absent)."""
    for line in reply.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return 0


def megabytes(count: int, fill: bytes = b" ") -> Iterable[bytes]:
    for _ in range(count):
        yield fill * 2**20


def multipart(files: int, size: int, declared: bool = True, kind: str | None = None):
    """An upload of `files` parts of `size` bytes each, in one request.

    `kind` is the Content-Type to declare (default: the plain boundary=hrnnattack).
    """
    boundary = "hrnnattack"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="f.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    chunks = [part + b"\0" * size + b"\r\n" for _ in range(files)] + [
        f"--{boundary}--\r\n".encode()
    ]
    kind = kind or f"multipart/form-data; boundary={boundary}"
    length = sum(map(len, chunks)) if declared else None
    return lambda c: raw_post(c, "upload", iter(chunks), length, kind)


BOUNDARY = "hrnnattack"
_FORM_REFUSED = _http_refused(400, 413)


def multipart_as(client: httpx.Client, kind: str) -> Callable[[], tuple[int, str]]:
    """999 small files in one upload, under a Content-Type spelled `kind`."""
    return lambda: multipart(999, 10, declared=False, kind=kind)(client)


def event_ids(client: httpx.Client) -> dict[str, int]:
    """The page's events by api_name, from its public config."""
    config = client.get("config", timeout=HANG_SECONDS).json()
    return {d.get("api_name"): d["id"] for d in config["dependencies"]}


def attacks(client: httpx.Client) -> dict[str, Callable[[httpx.Client], Outcome]]:
    """Name -> attack; each refused in well under a second by a hardened server."""
    example = event_ids(client).get("on_example", 0)
    screenshot = str(REPO / "docs" / "screenshot.png")
    fifo = _fifo()

    def page(path: str) -> Callable[[httpx.Client], Outcome]:
        send = lambda c: lambda: classify(c, {"path": path})  # noqa: E731
        return lambda c: _timed(path[-40:], send(c), _page_refused(NOT_UPLOADED))

    table = {
        "run /dev/zero": lambda c: _timed(
            "run /dev/zero",
            lambda: _reply(post_json(c, "run/classify", {"data": [{"path": "/dev/zero"}, "f"]})),
            _http_refused(404),
        ),
        "call /dev/zero": page("/dev/zero"),
        "call a FIFO": page(fifo),
        "call /proc/self/fd/1": page("/proc/self/fd/1"),
        "call a server image": page(screenshot),
        "call /root/.ssh/id_rsa": page("/root/.ssh/id_rsa"),
        "call /etc/shadow": page("/etc/shadow"),
        "call the private drawing event": lambda c: _timed(
            "private",
            lambda: _reply(post_json(c, "call/on_drawing", {"data": []})),
            _http_refused(404),
        ),
        "12000x12000 PNG upload": lambda c: _timed(
            "bomb",
            lambda: classify(c, {"path": upload(c, bomb_png())}),
            _page_refused("pixels"),
        ),
        "200 MB JSON body": lambda c: _timed(
            "200 MB",
            lambda: raw_post(c, "queue/join", megabytes(200), 200 * 2**20, "application/json"),
            _http_refused(413),
        ),
        "deep_link": lambda c: _timed(
            "deep_link",
            lambda: _reply(c.get(f"{API}/deep_link", params={"session_hash": "abc"})),
            _http_refused(404),
        ),
        "3 x 15 MB in one upload": lambda c: _timed(
            "3x15MB", lambda: multipart(3, 15 * 2**20)(c), _http_refused(413)
        ),
        "1000 files in one upload": lambda c: _timed(
            "1000 files", lambda: multipart(1000, 10, declared=False)(c), _http_refused(413)
        ),
        "unknown model name": lambda c: _timed(
            "model",
            lambda: classify(c, {"path": upload(c, digit_png())}, "float64"),
            _page_refused("Unknown model"),
        ),
        "a dict as model name": lambda c: _timed(
            "model dict",
            lambda: classify(c, {"path": upload(c, digit_png())}, {"x": [1]}),
            _page_refused("Unknown model"),
        ),
        "a drawing naming a server file": lambda c: _timed(
            "drawing path",
            lambda: read_drawing(c, {"path": "/etc/passwd", "ink": "", "n": 1}),
            _page_refused("form this page does not send"),
        ),
        "a drawing that is not a PNG": lambda c: _timed(
            "drawing garbage",
            lambda: read_drawing(c, {"ink": "data:image/png;base64,AAAA", "n": 1}),
            _page_refused("PNG"),
        ),
        "a 1 MB drawing": lambda c: _timed(
            "drawing 1 MB",
            lambda: read_drawing(c, {"ink": "data:image/png;base64," + "A" * 2**20, "n": 1}),
            _http_refused(413),
        ),
        "a number of 13 drawn digits": lambda c: _timed(
            "drawing 13 digits",
            lambda: read_drawing(c, {"digits": [small_digit()] * 13, "n": 1}),
            _page_refused("form this page does not send"),
        ),
        "a drawn digit far larger than the canvas": lambda c: _timed(
            "drawing huge digit",
            lambda: read_drawing(c, {"digits": [small_digit(), small_digit(4000)], "n": 1}),
            _page_refused("PNG"),
        ),
        "a drawing read with an unknown model": lambda c: _timed(
            "drawing model",
            lambda: read_drawing(c, {"ink": "", "n": 1}, "float64"),
            _http_refused(422),
        ),
        "bad fn_index": lambda c: _timed(
            "fn_index",
            lambda: _reply(
                post_json(c, "queue/join", {"data": [], "fn_index": 99, "session_hash": "a"})
            ),
            _http_refused(422),
        ),
        "999 files, BOUNDARY= in capitals": lambda c: _timed(
            "BOUNDARY", multipart_as(c, f"multipart/form-data; BOUNDARY={BOUNDARY}"), _FORM_REFUSED
        ),
        "999 files, spaces around boundary =": lambda c: _timed(
            "boundary =",
            multipart_as(c, f"multipart/form-data; boundary = {BOUNDARY}"),
            _FORM_REFUSED,
        ),
        "999 files, a decoy boundary first": lambda c: _timed(
            "decoy first",
            multipart_as(c, f"multipart/form-data; boundary=decoy; boundary={BOUNDARY}"),
            _FORM_REFUSED,
        ),
        "999 files, a decoy boundary last": lambda c: _timed(
            "decoy last",
            multipart_as(c, f"multipart/form-data; boundary={BOUNDARY}; boundary=decoy"),
            _FORM_REFUSED,
        ),
        "5000-deep JSON to the queue": lambda c: _timed(
            "deep join",
            lambda: _reply(c.post(f"{API}/queue/join", content=b"[" * 5000, timeout=HANG_SECONDS)),
            _http_refused(422),
        ),
        "5000-deep JSON to cancel": lambda c: _timed(
            "deep cancel",
            lambda: _reply(c.post(f"{API}/cancel", content=b"[" * 5000, timeout=HANG_SECONDS)),
            _http_refused(422),
        ),
        "an empty /call/v2 body": lambda c: _timed(
            "call v2", lambda: _reply(post_json(c, "call/v2/classify", {})), _http_refused(422)
        ),
        "a NUL in the path": lambda c: _timed(
            "NUL",
            lambda: _reply(c.get(f"{API}/file=%00", timeout=HANG_SECONDS)),
            _http_refused(400),
        ),
        "replace a queued event's data": lambda c: _timed(
            "stream",
            lambda: _reply(post_json(c, "stream/anyevent", {"data": [], "fn_index": 0})),
            _http_refused(404),
        ),
        "the closed API schema": lambda c: _timed(
            "openapi",
            lambda: _reply(c.get(f"{API}/openapi.json", timeout=HANG_SECONDS)),
            _http_refused(404),
        ),
        "a refused file that would be echoed": lambda c: _timed(
            "echo",
            lambda: _reply(c.get(f"{API}/file=/etc/hrnn-secret-name", timeout=HANG_SECONDS)),
            lambda status, text: 400 <= status < 500 and "hrnn-secret-name" not in text,
        ),
        "an example that is not shipped": lambda c: _timed(
            "example name",
            lambda: _reply(
                post_json(
                    c,
                    "run/on_example",
                    {"data": [{"example": "../x"}], "fn_index": example, "session_hash": "a"},
                )
            ),
            lambda status, text: status == 200 and "No such example" in text,
        ),
        "an example by index": lambda c: _timed(
            "example index",
            lambda: _reply(
                post_json(
                    c, "run/on_example", {"data": [99], "fn_index": example, "session_hash": "a"}
                )
            ),
            _http_refused(422),
        ),
        "a shipped example by its path": page(str(REPO / "demo" / "examples" / "drawn_7.png")),
    }
    return table
