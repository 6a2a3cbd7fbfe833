"""Body limits and route rules in front of Gradio: one ASGI middleware, plus allocator tuning.

Each route gets the body size the page really sends (a drawing's ink is a few kB; an upload is
one photo) and must arrive in time; routes the page never uses are closed, and queue, /call
and /run bodies go through demo.calls before Gradio sees them: a 4xx sentence, never a 500.
"""

import asyncio
import contextlib
import ctypes
import ipaddress
import json
import re
import time
from collections import Counter

import gradio as gr

from demo.calls import DIRECT, Rejected, check_call, known_stream
from demo.pixels import MAX_FILE_BYTES  # one phone photo (~3-8 MB JPEG) with room to spare

PREFIX = "/gradio_api"
UPLOAD_BODY = MAX_FILE_BYTES + 64 * 2**10  # the file plus multipart headers
JOIN_BODY = 512 * 2**10  # a 280x280 ink PNG as a data URL is a few kB; 512 KiB caps any drawing
SMALL_BODY = 16 * 2**10  # every other route (cancel, heartbeat, component calls)
MAX_PARTS = 2  # one file per upload request (Gradio's parser would take 1,000)
UPLOADS_AT_ONCE = 8  # uploads in flight (each streams to disk); more wait ...
UPLOAD_WAIT = 10.0  # ... this long for a turn, then are told the server is busy
PER_CLIENT_UPLOADS = 4  # one client's uploads in flight
PER_CLIENT_EVENTS = 8  # one client's events waiting or running (the queue holds 32)
DIRECT_AT_ONCE = 4  # drawing reads outside the queue (each ~5-10 ms of CPU); more wait ...
DIRECT_WAIT = 2.0  # ... this long for a turn, then are told the server is busy
PER_CLIENT_DIRECT = 2  # one client's reads outside the queue (drawings, example clicks)
FILE_LIFETIME, SWEEP_EVERY = 600, 300  # uploads older than 10 min go, swept every 5 min ...
UPLOAD_WINDOW = FILE_LIFETIME + SWEEP_EVERY  # ... so the disk holds at most this window's uploads
CLIENT_UPLOAD_BYTES = 150 * 2**20  # one client's uploads per window (~150 phone photos)
ALL_UPLOAD_BYTES = 2**30  # everyone's uploads per window: the most the disk ever holds
MIN_UPLOAD_CHARGE = 16 * 2**10  # an upload costs at least this (a file and a folder on disk)
BODY_IDLE_SECONDS = 10.0  # a body that stalls this long between chunks is dropped (slowloris)
BODY_SECONDS = 60.0  # and every body must be complete this long after it starts
CLOSED = ("/deep_link", "/run-history", "/runs", "/mcp", "/proxy=")
QUEUED = ("/queue/join", "/call/")
UPLOAD_SHARE = (PER_CLIENT_UPLOADS, "You are uploading too many files at once; please wait.")
DIRECT_SHARE = (PER_CLIENT_DIRECT, "You have too many reads in flight; please wait for answers.")
# glibc: buffers over MMAP_THRESHOLD go back to the system when freed; the heap's free top is
# trimmed past TRIM_THRESHOLD, which must exceed what one read frees (a 280x280 drawing's work
# arrays): at 1 MiB every read faulted its memory in afresh (python -m bench.allocator)
MMAP_THRESHOLD, TRIM_THRESHOLD = 256 * 2**10, 8 * 2**20


class Limits:
    """ASGI middleware enforcing the table above; `blocks` is the app whose events are checked."""

    def __init__(self, app, blocks: gr.Blocks):
        self.app, self.blocks = app, blocks
        self.uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)
        self.uploading: dict[str, int] = {}  # client -> uploads in flight
        self.direct = asyncio.Semaphore(DIRECT_AT_ONCE)
        self.reading: dict[str, int] = {}  # client -> reads outside the queue in flight
        self.uploaded: dict[int, Counter] = {}  # minute -> client -> bytes taken in

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked_send(message):
            nonlocal started
            started = True
            await send(message)

        try:
            route = _route(scope["path"])
            if route.startswith(CLOSED):
                raise Rejected(404, "Not found.")
            headers = dict(scope["headers"])
            limit = _limit(route)
            _check_length(headers, limit)
            if not known_stream(route, scope, self.blocks):
                raise Rejected(404, "No such session or event.")  # Gradio aborts such streams
            if route.startswith(QUEUED + DIRECT) and scope["method"] == "POST":
                client = client_key(scope.get("client"), headers)
                if route.startswith(QUEUED):
                    self._check_share(client)
                body = await _read_all(receive, limit)
                check_call(route, body, self.blocks)
                if route.startswith(QUEUED):
                    return await self.app(scope, _replay(body, receive), tracked_send)
                # Outside the queue (a drawing's read): bounded here instead, per client and all.
                async with _turn(self.direct, self.reading, client, DIRECT_SHARE, DIRECT_WAIT):
                    return await self.app(scope, _replay(body, receive), tracked_send)
            if route == "/upload":
                counted = _counting(receive, limit, _boundary(headers))
                return await self._upload(scope, counted, tracked_send, headers)
            return await self.app(scope, _counting(receive, limit, None), tracked_send)
        except Rejected as refusal:
            if not started:
                await _answer(send, refusal.status, refusal.sentence)

    def _check_share(self, client: str) -> None:
        """One client may have PER_CLIENT_EVENTS events waiting or running, not the whole queue."""
        events = list(self.blocks._queue.event_ids_to_events.values())
        mine = sum(1 for event in events if _event_client(event) == client)
        if mine >= PER_CLIENT_EVENTS:
            raise Rejected(429, "You have too many requests waiting; please wait for the answers.")

    async def _upload(self, scope, receive, send, headers: dict) -> None:
        """Uploads take one of UPLOADS_AT_ONCE slots, at most PER_CLIENT_UPLOADS per client."""
        client = client_key(scope.get("client"), headers)
        self._check_disk(client)
        async with _turn(self.uploads, self.uploading, client, UPLOAD_SHARE, UPLOAD_WAIT):
            try:
                return await self.app(scope, receive, send)
            finally:
                minute = int(time.monotonic() // 60)
                taken = self.uploaded.setdefault(minute, Counter())
                taken[client] += max(receive.size, MIN_UPLOAD_CHARGE)

    def _check_disk(self, client: str) -> None:
        """Uploads stay on disk up to UPLOAD_WINDOW: bound one client's share and everyone's."""
        oldest = int((time.monotonic() - UPLOAD_WINDOW) // 60)
        for minute in [m for m in self.uploaded if m < oldest]:
            del self.uploaded[minute]
        if sum(sum(c.values()) for c in self.uploaded.values()) >= ALL_UPLOAD_BYTES:
            raise Rejected(503, "The server has taken all the uploads it can for now; try later.")
        if sum(c[client] for c in self.uploaded.values()) >= CLIENT_UPLOAD_BYTES:
            raise Rejected(429, "You have uploaded a lot in the last minutes; please wait a while.")


@contextlib.asynccontextmanager
async def _turn(shared: asyncio.Semaphore, mine: dict, client: str, share: tuple[int, str], wait):
    """A turn at `shared`, awaited up to `wait` s; a client holds or awaits at most share[0].

    Raises Rejected: 429 with share[1] (the client has its share) or 503 (no turn in time).
    """
    per_client, too_many = share
    if mine.get(client, 0) >= per_client:
        raise Rejected(429, too_many)
    mine[client] = mine.get(client, 0) + 1  # counted while waiting too: no race past the cap
    try:
        try:
            await asyncio.wait_for(shared.acquire(), wait)
        except asyncio.TimeoutError:
            raise Rejected(503, "The server is busy; please try again in a moment.") from None
        try:
            yield
        finally:
            shared.release()
    finally:
        mine[client] -= 1
        if not mine[client]:
            del mine[client]


def client_key(peer: tuple | None, headers) -> str:
    """Who is asking: the peer, or the address a proxy on a private network appended last.

    The last X-Forwarded-For entry is the one the nearest proxy wrote; earlier ones are the
    client's own claims. A client reaching us directly cannot pose as someone else.
    """
    host = peer[0] if peer else "?"
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1").strip()
    try:
        private = ipaddress.ip_address(host).is_private
    except ValueError:
        private = False
    return forwarded.split(",")[-1].strip() if private and forwarded else host


def _event_client(event) -> str | None:
    request = getattr(event, "request", None)
    if request is None:
        return None
    peer = (request.client.host, 0) if getattr(request, "client", None) else None
    headers = {k.encode("latin-1"): v.encode("latin-1") for k, v in request.headers.items()}
    return client_key(peer, headers)


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> None:
    """Make glibc hand big buffers back: fixed mmap threshold, two arenas (Linux only).

    A trim threshold too low makes every read pay: at 1 MiB the heap was handed back after each
    drawing and faulted in again by the next (python -m bench.allocator compares settings).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    libc.mallopt(m_mmap_threshold, mmap_threshold)
    libc.mallopt(m_trim_threshold, trim_threshold)
    libc.mallopt(m_arena_max, 2)


def _route(path: str) -> str:
    """The path below the Gradio API prefix ('' for the page itself)."""
    return path[len(PREFIX) :] if path.startswith(PREFIX + "/") else ""


def _limit(route: str) -> int:
    if route == "/upload":
        return UPLOAD_BODY
    return JOIN_BODY if route.startswith(QUEUED + DIRECT) else SMALL_BODY


def _check_length(headers: dict, limit: int) -> None:
    raw = headers.get(b"content-length")
    if raw is None:
        return
    if not raw.isdigit():
        raise Rejected(400, "The request has an invalid Content-Length.")
    if int(raw) > limit:
        raise Rejected(413, f"The request is larger than this route accepts ({limit} bytes).")


def _deadline() -> float:
    return asyncio.get_running_loop().time() + BODY_SECONDS


async def _next(receive, deadline: float) -> dict:
    """The next body message, or 408 when it stalls or the whole body is overdue."""
    left = min(BODY_IDLE_SECONDS, deadline - asyncio.get_running_loop().time())
    try:
        if left <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(receive(), left)
    except asyncio.TimeoutError:
        raise Rejected(408, "The request body arrived too slowly.") from None


async def _read_all(receive, limit: int) -> bytes:
    chunks, size, deadline = [], 0, _deadline()
    while True:
        message = await _next(receive, deadline)
        if message["type"] == "http.disconnect":
            raise Rejected(400, "The client went away.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"The request is larger than this route accepts ({limit} bytes).")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    """Hand the checked body on once, then pass the client's own messages (disconnects)."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _counting(receive, limit: int, boundary: bytes | None):
    """receive() that refuses past `limit` bytes or (multipart) past MAX_PARTS parts.

    Once the body is complete, messages pass untimed: streams wait on receive() for a disconnect.
    """
    size, parts, tail, deadline, done = 0, 0, b"", None, False

    async def counted():
        nonlocal size, parts, tail, deadline, done
        if done:
            return await receive()
        deadline = deadline or _deadline()
        message = await _next(receive, deadline)
        done = message["type"] != "http.request" or not message.get("more_body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"The request is larger than this route accepts ({limit} bytes).")
        counted.size = size
        if boundary:
            window = tail + chunk
            parts += window.count(boundary) - tail.count(boundary)
            tail = window[-len(boundary) + 1 :] if len(boundary) > 1 else b""
            if parts > MAX_PARTS:  # the closing delimiter counts once too
                raise Rejected(413, "Upload one file at a time.")
        return message

    counted.size = 0
    return counted


def _boundary(headers: dict) -> bytes | None:
    kind = headers.get(b"content-type", b"").decode("latin-1")
    match = re.search(r'boundary="?([^";]+)"?', kind)
    return ("--" + match.group(1)).encode("latin-1") if match else None


async def _answer(send, status: int, sentence: str) -> None:
    body = json.dumps({"detail": sentence}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
