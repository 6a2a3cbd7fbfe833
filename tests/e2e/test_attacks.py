"""The hostile suite: attacks replayed against the real app on loopback, as outsiders send them.

Each must be refused in under a second while valid requests keep being answered; no path
outside the uploads is opened, nothing hangs, no response over the whole suite is a 5xx and the
server log holds no traceback, one visitor cannot take everyone's share, and memory stays
bounded. The app runs in its own process here, so memory figures are this module's alone.
"""

import errno
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench.paths import REPO
from demo import limits
from tests.support import attacks, crowds
from tests.support.liveserver import running_app

STATUSES: list[int] = []  # every status the suite's httpx clients saw, for the final 5xx count


def counted(response: httpx.Response) -> None:
    STATUSES.append(response.status_code)


def visitor(address: str, app) -> httpx.Client:
    """A client the server sees as `address` (the loopback peer is a trusted proxy)."""
    hooks = {"response": [counted]}
    headers = {"X-Forwarded-For": address}
    return httpx.Client(base_url=app.url, headers=headers, event_hooks=hooks)


QUICK = 1.0  # seconds: a refusal is this quick or it is a bug
MB = 2**20


@pytest.fixture(scope="module")
def app():
    with running_app() as live:
        yield live


@pytest.fixture(scope="module")
def client(app):
    with httpx.Client(base_url=app.url, event_hooks={"response": [counted]}) as session:
        yield session


@pytest.fixture(scope="module")
def table(client):
    attacks.bomb_png()  # built once, outside the timings
    served(client)  # the first request after start warms the queue up (~1 s): not an attack's cost
    return attacks.attacks(client)


def served(client: httpx.Client) -> None:
    outcome = attacks.valid(client)
    assert not outcome.refused, outcome.text
    assert outcome.seconds < 10


class Peak:
    """Highest server RSS seen while the with-block runs (sampled every 20 ms)."""

    def __init__(self, app):
        self.app, self.peak, self.running = app, app.rss_bytes(), True

    def __enter__(self):
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.app.rss_bytes())
            time.sleep(0.02)


ATTACKS = [
    "run /dev/zero",
    "call /dev/zero",
    "call a FIFO",
    "call /proc/self/fd/1",
    "call a server image",
    "call /root/.ssh/id_rsa",
    "call /etc/shadow",
    "call the private drawing event",
    "12000x12000 PNG upload",
    "200 MB JSON body",
    "deep_link",
    "3 x 15 MB in one upload",
    "1000 files in one upload",
    "unknown model name",
    "a dict as model name",
    "bad fn_index",
    "an example that is not shipped",
    "an example by index",
    "a shipped example by its path",
    "999 files, BOUNDARY= in capitals",
    "999 files, spaces around boundary =",
    "999 files, a decoy boundary first",
    "999 files, a decoy boundary last",
    "5000-deep JSON to the queue",
    "5000-deep JSON to cancel",
    "an empty /call/v2 body",
    "a NUL in the path",
    "replace a queued event's data",
    "the closed API schema",
    "a refused file that would be echoed",
    "a drawing naming a server file",
    "a drawing that is not a PNG",
    "a 1 MB drawing",
    "a drawing read with an unknown model",
    "a number of 13 drawn digits",
    "a drawn digit far larger than the canvas",
]


def test_the_catalogue_is_complete(table):
    assert sorted(table) == sorted(ATTACKS)


@pytest.mark.parametrize("name", ATTACKS)
def test_each_attack_is_refused_quickly_and_the_server_keeps_serving(client, table, name):
    outcome = table[name](client)
    STATUSES.append(outcome.status)
    assert outcome.refused, f"{name}: {outcome.status} {outcome.text}"
    assert outcome.seconds < QUICK, f"{name} took {outcome.seconds:.2f} s"
    served(client)


def test_secret_and_missing_paths_get_the_same_answer(client):
    answers = {
        attacks.classify(client, {"path": path})
        for path in ("/root/.ssh/id_rsa", "/etc/shadow", "/no/such/file.png", "/etc/hostname")
    }
    assert len(answers) == 1


def test_the_server_never_opens_a_fifo_it_is_sent(client):
    """A FIFO accepts a non-blocking writer only while someone reads it: the server never does."""
    fifo = os.path.join(tempfile.mkdtemp(prefix="hrnn-fifo-"), "digit.png")
    os.mkfifo(fifo)
    opened, done = [], threading.Event()

    def watch():
        while not done.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                opened.append(True)
            except OSError as error:
                assert error.errno == errno.ENXIO  # no reader: the expected state
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(5):
            attacks.classify(client, {"path": fifo})
            attacks.classify(client, fifo)
    finally:
        done.set()
        watcher.join()
    assert not opened


def test_forty_requests_for_stdout_leave_the_server_responsive(client):
    # Half the client's share of events at a time: Gradio forgets an answered event only after
    # its cleanup, so a client keeping exactly its share busy is sometimes, rightly, told 429.
    with ThreadPoolExecutor(limits.PER_CLIENT_EVENTS // 2) as pool:
        answers = list(
            pool.map(lambda _: attacks.classify(client, {"path": "/proc/self/fd/1"}), range(40))
        )
    assert all(status == 200 and attacks.NOT_UPLOADED in text for status, text in answers), [
        a for a in answers if a[0] != 200 or attacks.NOT_UPLOADED not in a[1]
    ][:3]
    started = time.perf_counter()
    served(client)
    assert time.perf_counter() - started < 5


def test_malformed_calls_never_get_a_5xx(client):
    api = attacks.API
    probes = [
        ("post", "queue/join", {"content": b"{nope"}),
        ("post", "queue/join", {"json": {"data": "x", "fn_index": 3, "session_hash": "a"}}),
        ("post", "queue/join", {"json": {"data": [], "fn_index": "3", "session_hash": "a"}}),
        ("post", "queue/join", {"json": {"data": [], "fn_index": 3, "session_hash": "a" * 500}}),
        ("post", "queue/join", {"json": {"data": [None] * 50, "fn_index": 3, "session_hash": "a"}}),
        ("post", "call/classify", {"json": {"data": {"path": "/etc/passwd"}}}),
        ("post", "call/classify", {"json": [1, 2, 3]}),
        ("post", "call/nope", {"json": {"data": []}}),
        ("post", "run/on_example", {"json": {"data": ["1"], "fn_index": 0, "session_hash": "a"}}),
        ("post", "run/predict", {"json": {"data": []}}),
        ("post", "upload", {"content": b"not multipart"}),
        ("post", "cancel", {"json": {"session_hash": "a", "fn_index": 999, "event_id": "x"}}),
        ("get", "file=/etc/passwd", {}),
        ("get", "file=/work/main/README.md", {}),
        ("get", "queue/data", {"params": {"session_hash": "nobody"}}),
        ("get", "queue/data", {}),
        ("get", "call/classify/no-such-event", {}),
        ("post", "queue/join", {"content": b"[" * 5000 + b"]" * 5000}),
        ("post", "run/predict", {"content": b"{" * 3000}),
        ("post", "reset", {"content": b"[" * 5000}),
        ("post", "component_server", {"content": b"[" * 5000}),
        ("post", "call/v2/classify", {"json": {}}),
        ("post", "call/v2/classify", {"json": {"nope": 1}}),
        ("post", "call/v2/classify", {"json": [1]}),
        ("post", "call/v2/classify", {"content": b"[" * 5000}),
        ("post", "call/v2/on_drawing", {"json": {}}),
        ("post", "call/v2/nope", {"json": {}}),
        ("post", "call/classify/extra", {"json": {"data": []}}),
        ("get", "file=/etc/passwd%00.png", {}),
        ("get", "file=%00", {}),
        ("get", "queue/data", {"params": {"session_hash": "a\x00b"}}),
        ("post", "stream/x", {"json": {"data": []}}),
        ("post", "stream/x/close", {}),
        ("get", "openapi.json", {}),
    ]
    for method, route, options in probes:
        reply = getattr(client, method)(f"{api}/{route}", timeout=10, **options)
        assert reply.status_code < 500, (route, options, reply.status_code, reply.text[:200])
    # a classify with a garbage payload is a 4xx or a sentence, never an error event
    meta = {"_type": "gradio.FileData"}
    for payload in (
        {"path": {"x": 1}},
        ["a"],
        12,
        "/etc/passwd",
        {"meta": {}},
        {"path": "/etc/passwd", "meta": meta},
        {"path": "/etc/passwd\x00.png", "meta": meta},
        {"path": "x", "meta": meta, "size": "big", "url": 7, "is_stream": "no"},
        {"path": "x", "meta": {"_type": "gradio.FileData", "extra": [[[[]]]]}},
        {"path": "x" * 5000, "meta": meta},
        None,
    ):
        status, text = attacks.classify(client, payload)
        assert status < 500, (payload, text)


def test_eight_parallel_bombs_are_refused_without_memory_growth(app, client):
    bomb = attacks.bomb_png()
    before = app.rss_bytes()

    def one(_):
        with httpx.Client(base_url=app.url) as own:
            started = time.perf_counter()
            try:
                status, text = attacks.classify(own, {"path": attacks.upload(own, bomb)})
            except httpx.HTTPStatusError as error:  # over one client's share of uploads
                text = f"{error.response.status_code} {error.response.text}"
            return time.perf_counter() - started, text

    with Peak(app) as peak, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    read = [text for _, text in results if "pixels" in text]
    turned_away = [text for _, text in results if text.startswith("429")]
    assert len(read) >= 4 and len(read) + len(turned_away) == 8, results
    assert max(seconds for seconds, _ in results) < 5  # 8 at once on a 2-core box
    assert peak.peak - before < 100 * MB
    served(client)


def test_three_40_mb_bodies_are_refused_and_not_retained(app, client):
    """Sent chunked, so no Content-Length gives them away: the count stops each one."""
    before = app.rss_bytes()
    sends = [
        lambda: attacks.raw_post(client, "queue/join", attacks.megabytes(40), None, "text/json"),
        lambda: attacks.raw_post(client, "call/classify", attacks.megabytes(40), None, "text/json"),
        lambda: attacks.multipart(1, 40 * MB, declared=False)(client),
    ]
    for send in sends:
        started = time.perf_counter()
        status, detail = send()
        assert status == 413 and "larger than" in detail
        assert time.perf_counter() - started < QUICK
    time.sleep(1)
    assert app.rss_bytes() - before < 100 * MB
    served(client)


def test_sessions_do_not_keep_request_inputs(app, client):
    """Gradio keeps every session's last inputs; 200 sessions of 500 KB ink must not stay."""
    drawing = attacks.event_ids(client)["on_drawing"]
    ink = {"ink": "data:image/png;base64," + "A" * (500 * 1024), "n": 1}
    served(client)
    before = app.rss_bytes()
    for k in range(200):
        call = {"data": [ink, "float32"], "fn_index": drawing, "session_hash": f"many{k:04d}"}
        assert attacks.post_json(client, "queue/join", call).status_code == 200
    time.sleep(3)
    assert app.rss_bytes() - before < 50 * MB
    served(client)


@pytest.mark.slow
def test_four_concurrent_worst_legal_inputs_stay_under_400_mb(app, client):
    png = attacks.worst_legal_png()
    served(client)
    idle = app.rss_bytes()

    def one(_):
        with httpx.Client(base_url=app.url) as own:
            return attacks.valid(own, png)

    with Peak(app) as peak, ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(one, range(4)))
    assert not any(o.refused for o in outcomes), [o.text for o in outcomes]
    assert peak.peak - idle < 400 * MB
    time.sleep(1)
    assert app.rss_bytes() - idle < 100 * MB


@pytest.mark.slow
def test_a_trickled_body_is_dropped_and_others_are_served(app, client):
    import socket

    host, port = app.url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(
            b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        served(client)
        slow.settimeout(60)
        started = time.perf_counter()
        answer = slow.recv(4096)
    assert b"408" in answer.split(b"\r\n")[0]
    assert time.perf_counter() - started < 20  # BODY_IDLE_SECONDS, then the 408


# --- one visitor, many requests at once -------------------------------------------------------


def digit_payload(client: httpx.Client) -> dict:
    return {
        "path": attacks.upload(client, attacks.digit_png()),
        "meta": {"_type": "gradio.FileData"},
    }


def test_forty_joins_at_once_admit_one_share_and_others_still_join(app, client):
    data = [digit_payload(client), "float32"]
    statuses = crowds.joins_at_once(
        app.url, 40, lambda k: {"X-Forwarded-For": "203.0.113.40"}, data
    )
    STATUSES.extend(statuses)
    assert statuses.count(200) <= limits.PER_CLIENT_EVENTS, statuses
    assert set(statuses) <= {200, 429}, statuses
    with visitor("203.0.113.41", app) as other:  # someone else is not kept out
        assert attacks.post_json(other, "call/classify", {"data": data}).status_code == 200
    served(client)


def test_an_ipv6_visitor_gets_one_share_for_its_whole_64(app, client):
    data = [digit_payload(client), "float32"]
    statuses = crowds.joins_at_once(
        app.url, 40, lambda k: {"X-Forwarded-For": f"2001:db8:40:1::{k + 1:x}"}, data
    )
    STATUSES.extend(statuses)
    assert statuses.count(200) <= limits.PER_CLIENT_EVENTS, statuses
    with visitor("2001:db8:40:2::1", app) as neighbour:  # the next /64 is someone else
        assert attacks.post_json(neighbour, "call/classify", {"data": data}).status_code == 200
    served(client)


def test_slow_upload_bodies_hold_nobody_else_up(app, client):
    """Eight sockets trickling a byte every 8 s: a visitor's upload goes straight through."""
    with crowds.SlowUploads(app.url, 8, pace=8.0) as slow, visitor("203.0.113.50", app) as other:
        started = time.perf_counter()
        outcome = attacks.valid(other)
        assert not outcome.refused, outcome.text
        assert time.perf_counter() - started < 10  # hang guard: a slot wait would be 10 s+
    STATUSES.extend(slow.statuses)
    assert slow.statuses == [408] * 8  # each cut off after the grace, not left to hold a slot


def test_identical_uploads_are_stored_once_and_charged_per_file(client):
    paths = {attacks.upload(client, attacks.digit_png()) for _ in range(5)}
    assert len(paths) == 1  # Gradio stores identical content under one name


# --- what the page and its errors give away ---------------------------------------------------


def test_the_page_and_config_hold_no_absolute_server_path(client):
    """Not the checkout, not Gradio's cache: assets go by route (examples travel as data)."""
    checkout = str(REPO)
    for route in ("", "config", "gradio_api/info"):
        text = client.get(route, timeout=attacks.HANG_SECONDS).text
        assert checkout not in text, (route, text[text.find(checkout) - 100 :][:300])
        assert re.findall(r'"(/[^"\s/]+/[^"\s]*)"', text) == [], route  # "/tmp/gradio/..."


def test_refusals_do_not_echo_the_path_asked_for(client):
    for route in (
        "file=/etc/hrnn-echo-probe",
        "file=/work/hrnn-echo-probe",
        "nope/hrnn-echo-probe",
    ):
        reply = client.get(f"{attacks.API}/{route}", timeout=attacks.HANG_SECONDS)
        assert 400 <= reply.status_code < 500 and "hrnn-echo-probe" not in reply.text


# --- the whole suite: no 5xx, no traceback ----------------------------------------------------


def test_no_response_of_the_suite_was_a_5xx_and_the_log_holds_no_traceback(app):
    """Runs last in this module: everything above has been answered with a 4xx or better."""
    five_xx = [status for status in STATUSES if status >= 500]
    print(f"hostile suite: {len(STATUSES)} responses counted, {len(five_xx)} of them 5xx")
    assert STATUSES and not five_xx
    log = app.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI" not in log, app.log_tail()
