"""The hostile suite, part two: client identity behind 0 and 2 trusted proxies, and a start-up
whose onnxruntime-web download trickles forever. Each configuration is its own app process.

Keying is seen from outside through the per-visitor share of queued events: 40 joins released
together by one visitor admit at most that share whatever addresses they claim, and another
visitor behind the same proxies still joins (with no trusted proxy, everyone behind the proxy
is one visitor, so that one waits).
"""

import socket
import threading
import time

import httpx
import pytest

from demo import limits
from tests.support import attacks, crowds
from tests.support.liveserver import running_app

SHARE = limits.PER_CLIENT_EVENTS


class Trickler:
    """A 'registry' that answers with headers, then one byte every 0.5 s, for ever."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/onnxruntime-web.tgz"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.server.settimeout(0.5)
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40000000\r\n\r\n")
                while not self.stop.wait(0.5):
                    connection.sendall(b"\0")
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.server.close()


@pytest.fixture(scope="module")
def trickler():
    registry = Trickler()
    yield registry
    registry.close()


@pytest.fixture(scope="module", params=[0, 2], ids=["no-proxy", "two-proxies"])
def proxied(request, trickler, tmp_path_factory):
    """(app, hops): an app trusting `hops` proxies, whose runtime download never finishes."""
    env = {
        "HRNN_PROXY_HOPS": str(request.param),
        "HRNN_WEBRUNTIME_DIR": str(tmp_path_factory.mktemp("runtime")),
        "HRNN_WEBRUNTIME_URL": trickler.url,
    }
    with running_app(env=env, timeout=120) as app:
        yield app, request.param


def forwarded(hops: int, visitor: str, claim: str) -> dict:
    """The X-Forwarded-For a visitor's request carries on arrival behind `hops` proxies."""
    chain = [claim, visitor] + ["10.0.0.9"] * max(0, hops - 1)
    return {"X-Forwarded-For": ", ".join(chain[: max(1, hops) + 1])}


def test_the_page_answers_at_once_while_the_runtime_download_trickles(proxied):
    app, _ = proxied
    started = time.perf_counter()
    page = httpx.get(app.url, timeout=5)  # the old start-up waited for the download first
    assert page.status_code == 200 and time.perf_counter() - started < 5
    config = httpx.get(app.url + "config", timeout=5).json()
    props = [c.get("props", {}) for c in config["components"]]
    assert all(not p.get("browser") for p in props)  # until the runtime is there, the server reads
    with httpx.Client(base_url=app.url) as client:
        assert attacks.read_drawing(client, {"ink": "", "n": 1})[0] == 200


def test_claimed_addresses_buy_no_extra_share(proxied):
    app, hops = proxied
    with httpx.Client(base_url=app.url) as client:
        data = [
            {
                "path": attacks.upload(client, attacks.digit_png()),
                "meta": {"_type": "gradio.FileData"},
            },
            "float32",
        ]

    def claims(k: int) -> dict:
        return forwarded(hops, "198.51.100.7", f"192.0.2.{k + 1}")  # a new claim each time

    statuses = crowds.joins_at_once(app.url, 40, claims, data)
    assert statuses.count(200) <= SHARE and set(statuses) <= {200, 429}, statuses
    with httpx.Client(base_url=app.url, headers=forwarded(hops, "198.51.100.8", "x")) as other:
        status = attacks.post_json(other, "call/classify", {"data": data}).status_code
    # behind trusted proxies the other visitor is someone else; with none trusted, every request
    # through the (loopback) proxy is one visitor, whose share may still be taken
    assert status == 200 if hops else status in (200, 429)


def test_the_log_holds_no_traceback(proxied):
    app, _ = proxied
    log = app.log_path.read_text(errors="replace")
    assert "Traceback" not in log, app.log_tail()
