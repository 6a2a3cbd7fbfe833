"""Uploads: one file per request (parsed as Gradio parses it), charged to their client at once.

An upload is admitted, and its largest possible cost reserved, in one locked step, so uploads
sent together cannot overshoot a share. The body is then received whole into a spooled file
(at the pace demo.bodies asks), its multipart form read with python-multipart's own parser and
the boundary Gradio itself would use, and only then handed to Gradio in one go: a slow sender
holds its own place in line, never one of the few turns Gradio's parse runs in. When Gradio
has stored the file, the reservation becomes the real charge: a fixed cost per file, plus the
file's bytes when they are new to the disk (Gradio stores identical uploads once).
"""

import threading
import time
from collections import Counter, deque

# python-multipart's parser and header reader, exactly as Gradio's upload route imports them
from gradio.route_utils import MultipartParser, parse_options_header

from demo.bodies import Rejected

MIN_UPLOAD_CHARGE = 16 * 2**10  # what every stored file costs (a file and a folder on disk)
MAX_HEADER_BYTES = 8 * 2**10  # one part header line (Gradio's parser allows the same)
TOO_MANY_FILES = "Upload one file at a time."
DISK_FULL = "The server has taken all the uploads it can for now; try later."
CLIENT_FULL = "You have uploaded a lot in the last minutes; please wait a while."
NOT_A_FORM = "An upload is one file in a multipart form, as the page sends it."


class OneFile:
    """Feed a multipart body chunk by chunk; refuses a second part and counts the file's bytes.

    The boundary comes from parse_options_header, exactly as Gradio's parser finds it (any case,
    spacing or repetition of `boundary=` gives both the same one), so the parts counted here are
    the parts Gradio would store.
    """

    def __init__(self, content_type: bytes):
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise Rejected(400, NOT_A_FORM)
        self.parts, self.size, self.ended = 0, 0, False
        self.header, self.value, self.disposition = b"", b"", b""
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._field,
                "on_header_value": self._value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done,
                "on_part_data": self._data,
                "on_end": self._end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except Rejected:
            raise
        except Exception:  # python-multipart's MultipartParseError and kin
            raise Rejected(400, NOT_A_FORM) from None

    def check_complete(self) -> int:
        """The file's size once the whole body is in; 400 unless it was one whole file part."""
        if self.parts != 1 or not self.ended:
            raise Rejected(400, NOT_A_FORM)
        return self.size

    def _begin(self) -> None:
        self.parts += 1
        self.disposition = b""
        if self.parts > 1:
            raise Rejected(413, TOO_MANY_FILES)

    def _field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]
        self._bounded()

    def _value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]
        self._bounded()

    def _bounded(self) -> None:
        if len(self.header) + len(self.value) > MAX_HEADER_BYTES:
            raise Rejected(400, NOT_A_FORM)

    def _header_end(self) -> None:
        if self.header.lower() == b"content-disposition":
            self.disposition = self.value
        self.header, self.value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self.disposition)
        if options.get(b"name") != b"files" or b"filename" not in options:
            raise Rejected(400, NOT_A_FORM)  # Gradio would keep other parts' files, unreturned

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start

    def _end(self) -> None:
        self.ended = True


class UploadBook:
    """Per-client and total upload charges over the window files stay on disk, plus reservations.

    Every method runs under one lock and awaits nothing, so admission cannot race.
    """

    def __init__(
        self,
        window: float,
        lifetime: float,
        per_client: int,
        total: int,
        at_once: int,
        receiving: int,
    ):
        self.window, self.lifetime, self.per_client, self.total = (
            window,
            lifetime,
            per_client,
            total,
        )
        self.at_once, self.receiving = at_once, receiving
        self.lock = threading.Lock()
        self.charges: deque[tuple[float, str, int]] = deque()  # (when, client, bytes)
        self.stored: dict[str, float] = {}  # file path -> when its bytes were last charged
        self.reserved: dict[str, list[int]] = {}  # client -> reservations in flight
        self.by_client: Counter = Counter()  # client -> bytes charged in the window

    def admit(self, client: str, reserve: int) -> None:
        """Reserve `reserve` bytes for the client's upload, or Rejected (429 or 503)."""
        with self.lock:
            self._expire(time.monotonic())
            mine = self.reserved.get(client, [])
            if len(mine) >= self.at_once:
                raise Rejected(429, "You are uploading too many files at once; please wait.")
            if sum(map(len, self.reserved.values())) >= self.receiving:
                raise Rejected(503, "The server is busy; please try again in a moment.")
            everyone = self.by_client.total() + sum(map(sum, self.reserved.values()))
            if everyone + reserve > self.total:
                raise Rejected(503, DISK_FULL)
            used = self.by_client[client] + sum(mine)
            if used + reserve > self.per_client:
                raise Rejected(429, CLIENT_FULL)
            self.reserved[client] = [*mine, reserve]

    def settle(self, client: str, reserve: int, stored: list[tuple[str, int]]) -> None:
        """Replace the reservation with the real charge for the files Gradio stored."""
        with self.lock:
            now = time.monotonic()
            self._expire(now)
            mine = self.reserved.get(client, [])
            mine.remove(reserve)
            if not mine:
                self.reserved.pop(client, None)
            for path, size in stored:
                # bytes are charged again once Gradio may have deleted the earlier copy
                fresh = now - self.stored.get(path, -self.lifetime) >= self.lifetime
                cost = MIN_UPLOAD_CHARGE + (size if fresh else 0)
                self.charges.append((now, client, cost))
                self.by_client[client] += cost
                if fresh:
                    self.stored[path] = now

    def used(self, client: str) -> int:
        with self.lock:
            self._expire(time.monotonic())
            return self.by_client[client]

    def _expire(self, now: float) -> None:
        while self.charges and now - self.charges[0][0] >= self.window:
            _, client, cost = self.charges.popleft()
            self.by_client[client] -= cost
            if self.by_client[client] <= 0:
                del self.by_client[client]
        for path in [p for p, when in self.stored.items() if now - when >= self.lifetime]:
            del self.stored[path]
