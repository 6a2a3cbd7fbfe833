"""Crowd attacks on a live app: many requests released at once from one visitor, slow bodies.

Each visitor is told apart by X-Forwarded-For (the loopback peer is a trusted proxy unless the
app runs with HRNN_PROXY_HOPS=0).
"""

import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.attacks import API, BOUNDARY, HANG_SECONDS


def joins_at_once(base_url: str, count: int, headers: Callable[[int], dict], data: list) -> list:
    """`count` /call/classify joins released together, request k with headers(k); statuses."""
    start = threading.Barrier(count)

    def one(k: int) -> int:
        with httpx.Client(base_url=base_url, headers=headers(k)) as own:
            own.get(f"{API}/info", timeout=HANG_SECONDS)  # connected before the barrier
            start.wait(timeout=HANG_SECONDS)
            body = {"data": data}
            return own.post(f"{API}/call/classify", json=body, timeout=HANG_SECONDS).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


class SlowUploads:
    """`count` uploads whose bodies trickle one byte every `pace` s, on sockets of their own.

    Use as a context manager; `statuses` holds each socket's final HTTP status (0: no answer).
    """

    def __init__(self, base_url: str, count: int, pace: float = 8.0):
        url = httpx.URL(base_url)
        self.address, self.count, self.pace = (url.host, url.port), count, pace
        self.statuses: list[int] = []
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> "SlowUploads":
        for k in range(self.count):
            thread = threading.Thread(target=self._trickle, args=(k,), daemon=True)
            thread.start()
            self.threads.append(thread)
        time.sleep(0.5)  # every socket is in before the caller goes on
        return self

    def __exit__(self, *exc) -> None:
        for thread in self.threads:
            thread.join(HANG_SECONDS)

    def _trickle(self, k: int) -> None:
        head = (
            f"POST /{API}/upload HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.{k + 1}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        status = 0
        with socket.create_connection(self.address, timeout=HANG_SECONDS) as sock:
            sock.sendall(head.encode())
            try:
                while not select.select([sock], [], [], self.pace)[0]:
                    sock.sendall(b"-")
                reply = sock.recv(65536)
                parts = reply.split(b"\r\n", 1)[0].split()
                status = int(parts[1]) if len(parts) > 1 else 0
            except OSError:
                status = 0
        self.statuses.append(status)
