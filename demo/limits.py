"""Body limits and route rules in front of Gradio: one ASGI middleware, plus allocator tuning.

Each route gets the body size the page really sends (a drawing's ink is a few kB; an upload is
one photo) and must arrive in time; routes the page never uses are closed, and queue, /call
and /run bodies go through demo.calls before Gradio sees them: a 4xx sentence, never a 500.
"""

import asyncio
import contextlib
import ctypes
import json

import gradio as gr

from demo import bodies, clients
from demo.bodies import Rejected, answer, counting, read_all, replay, replay_file
from demo.calls import DIRECT, check_call, check_depth, known_stream
from demo.pixels import MAX_FILE_BYTES  # one phone photo (~3-8 MB JPEG) with room to spare
from demo.uploads import MIN_UPLOAD_CHARGE, OneFile, UploadBook

PREFIX = "/gradio_api"
UPLOAD_BODY = MAX_FILE_BYTES + 64 * 2**10  # the file plus multipart headers
JOIN_BODY = 512 * 2**10  # a 280x280 ink PNG as a data URL is a few kB; 512 KiB caps any drawing
SMALL_BODY = 16 * 2**10  # every other route (cancel, heartbeat, component calls)
UPLOADS_AT_ONCE = 8  # whole bodies handed to Gradio's parser at once; more wait ...
UPLOAD_WAIT = 10.0  # ... this long for a turn, then are told the server is busy
UPLOADS_RECEIVING = 32  # upload bodies arriving at once, in all (each spooled, then parsed)
PER_CLIENT_UPLOADS = 4  # one client's uploads in flight (arriving, waiting or parsed)
PER_CLIENT_EVENTS = 8  # one client's events waiting or running (the queue holds 32)
DIRECT_AT_ONCE = 4  # drawing reads outside the queue (each ~5-10 ms of CPU); more wait ...
DIRECT_WAIT = 2.0  # ... this long for a turn, then are told the server is busy
PER_CLIENT_DIRECT = 2  # one client's reads outside the queue (drawings, example clicks)
FILE_LIFETIME, SWEEP_EVERY = 600, 300  # uploads older than 10 min go, swept every 5 min ...
UPLOAD_WINDOW = FILE_LIFETIME + SWEEP_EVERY  # ... so the disk holds at most this window's uploads
CLIENT_UPLOAD_BYTES = 150 * 2**20  # one client's uploads per window (~150 phone photos)
ALL_UPLOAD_BYTES = 2**30  # everyone's uploads per window: the most the disk ever holds
# routes the page never uses: closed before Gradio sees them (/stream/ would let anyone replace
# a queued event's inputs unchecked; openapi.json describes the API the page keeps closed)
CLOSED = ("/deep_link", "/run-history", "/runs", "/mcp", "/proxy=", "/stream/", "/openapi.json")
CLOSED += ("/process_recording", "/vibe-", "/undo-vibe-", "/dev/", "/login", "/logout")
QUEUED = ("/queue/join", "/call/")
BUSY = "The server is busy; please try again in a moment."
DIRECT_SHARE = (PER_CLIENT_DIRECT, "You have too many reads in flight; please wait for answers.")
ECHOED = (403, 404, 405)  # Gradio's refusals that may repeat the path asked for
# glibc: buffers over MMAP_THRESHOLD go back to the system when freed; the heap's free top is
# trimmed past TRIM_THRESHOLD, which must exceed what one read frees (a 280x280 drawing's work
# arrays): at 1 MiB every read faulted its memory in afresh (python -m bench.allocator)
MMAP_THRESHOLD, TRIM_THRESHOLD = 256 * 2**10, 8 * 2**20


class Limits:
    """ASGI middleware enforcing the table above; `blocks` is the app whose events are checked."""

    def __init__(self, app, blocks: gr.Blocks, hops: int | None = None):
        self.app, self.blocks = app, blocks
        self.hops = clients.proxy_hops() if hops is None else hops
        self.events = clients.Ledger()  # client -> queued events, charged when admitted
        self.direct = asyncio.Semaphore(DIRECT_AT_ONCE)
        self.reading: dict[str, int] = {}  # client -> reads outside the queue in flight
        self.uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)
        self.book = UploadBook(
            UPLOAD_WINDOW, FILE_LIFETIME, CLIENT_UPLOAD_BYTES, ALL_UPLOAD_BYTES, PER_CLIENT_UPLOADS,
            UPLOADS_RECEIVING,
        )  # fmt: skip

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked_send(message):
            nonlocal started
            started = True
            await send(message)

        try:
            await self._route(scope, receive, tracked_send)
        except Rejected as refusal:
            if not started:
                await answer(send, refusal.status, refusal.sentence)

    async def _route(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if "\0" in path or "\0" in scope.get("query_string", b"").decode("latin-1"):
            raise Rejected(400, "The address holds a NUL character.")
        route = _route(path)
        if route.startswith(CLOSED):
            raise Rejected(404, "Not found.")
        limit = _limit(route)
        _check_length(scope["headers"], limit)
        if not known_stream(route, scope, self.blocks):
            raise Rejected(404, "No such session or event.")  # Gradio aborts such streams
        client = clients.client_key(scope.get("client"), scope["headers"], self.hops)
        if route == "/upload" and scope["method"] == "POST":
            return await self._upload(scope, receive, send, client)
        if route.startswith(QUEUED + DIRECT) and scope["method"] == "POST":
            if route.startswith(QUEUED):
                return await self._join(scope, receive, send, client, route, limit)
            body = await read_all(receive, limit)
            check_call(route, body, self.blocks)
            # Outside the queue (a drawing's read): bounded here instead, per client and all.
            async with _turn(self.direct, self.reading, client, DIRECT_SHARE, DIRECT_WAIT):
                return await self.app(scope, replay(body, receive), send)
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body = await read_all(receive, limit)
            check_depth(body)
            return await self.app(scope, replay(body, receive), _quiet(send))
        return await self.app(scope, counting(receive, limit), _quiet(send))

    async def _join(self, scope, receive, send, client: str, route: str, limit: int) -> None:
        """A queued event, charged to its client in the same step that checks its share."""
        queue = self.blocks._queue
        alive = lambda event: event in queue.event_ids_to_events  # noqa: E731
        if not self.events.admit(client, PER_CLIENT_EVENTS, alive):
            raise Rejected(429, "You have too many requests waiting; please wait for the answers.")
        event, reply = None, bytearray()

        async def watched(message):
            if message["type"] == "http.response.body" and len(reply) < 4096:
                reply.extend(message.get("body", b""))
            await send(message)

        try:
            body = await read_all(receive, limit)
            check_call(route, body, self.blocks)
            await self.app(scope, replay(body, receive), watched)
            event = _event_id(bytes(reply))
        finally:
            self.events.resolve(client, event)

    async def _upload(self, scope, receive, send, client: str) -> None:
        """Admitted and reserved at once; received whole; parsed by Gradio in one of few turns."""
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        reserve = max(int(declared) if declared.isdigit() else UPLOAD_BODY, MIN_UPLOAD_CHARGE)
        form = OneFile(headers.get(b"content-type", b""))
        self.book.admit(client, reserve)
        stored: list[tuple[str, int]] = []
        try:
            with await bodies.spool(receive, UPLOAD_BODY, form.feed) as body:
                size = form.check_complete()
                paths = await self._parse(scope, replay_file(body, receive), send)
                stored = [(path, size) for path in paths]
        finally:
            self.book.settle(client, reserve, stored)

    async def _parse(self, scope, receive, send) -> list[str]:
        """Gradio's upload route on a whole body, in one of UPLOADS_AT_ONCE turns; its paths."""
        reply, status = bytearray(), 0

        async def watched(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif len(reply) < 65536:
                reply.extend(message.get("body", b""))
            await send(message)

        try:
            await asyncio.wait_for(self.uploads.acquire(), UPLOAD_WAIT)
        except asyncio.TimeoutError:
            raise Rejected(503, BUSY) from None
        try:
            await self.app(scope, receive, watched)
        finally:
            self.uploads.release()
        return _paths(bytes(reply)) if status == 200 else []


def _quiet(send):
    """Gradio's 403/404/405 may echo the path asked for: those become one fixed sentence."""
    swapped = False

    async def quiet(message):
        nonlocal swapped
        if message["type"] == "http.response.start" and message["status"] in ECHOED:
            swapped = True
            sentence = "Not found." if message["status"] != 403 else "Not allowed."
            return await answer(send, message["status"], sentence)
        if swapped:
            return None  # the original body is dropped
        return await send(message)

    return quiet


def _event_id(reply: bytes) -> str | None:
    try:
        event = json.loads(reply).get("event_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return event if isinstance(event, str) else None


def _paths(reply: bytes) -> list[str]:
    try:
        paths = json.loads(reply)
    except (ValueError, UnicodeDecodeError):
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


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
            raise Rejected(503, BUSY) from None
        try:
            yield
        finally:
            shared.release()
    finally:
        mine[client] -= 1
        if not mine[client]:
            del mine[client]


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


def _check_length(headers: list, limit: int) -> None:
    lengths = [value for name, value in headers if name.lower() == b"content-length"]
    if not lengths:
        return
    if len(set(lengths)) > 1 or not lengths[0].isdigit():
        raise Rejected(400, "The request has an invalid Content-Length.")
    if int(lengths[0]) > limit:
        raise bodies.too_large(limit)
