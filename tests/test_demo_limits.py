"""demo.limits (with demo.bodies, demo.calls, demo.uploads): the middleware in front of Gradio,
checked without a server.

Bodies are bounded per route and must keep a pace; queue calls are checked for shape before
Gradio sees them; uploads carry one file, as Gradio's own parser reads it, and are charged to
their client when admitted, like queued events and drawing reads.
"""

import asyncio
import concurrent.futures
import json
import time
from types import SimpleNamespace

import gradio as gr
import pytest

from demo import bodies, guard, limits
from demo import uploads as upload_book


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """A private Gradio upload folder holding one uploaded PNG; no running app."""
    folder = tmp_path / "gradio"
    (folder / "0a1b").mkdir(parents=True)
    (folder / "0a1b" / "digit.png").write_bytes(b"\x89PNG not really")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    monkeypatch.setattr(guard, "_served", None)
    return folder


EXAMPLES = gr.HTML()  # the example row: its pick sends {"example": name}
IMAGE, MODEL = gr.Image(type="filepath"), gr.Radio(["float32", "int8"])
FNS = {
    0: SimpleNamespace(
        api_name="classify", api_visibility="public", queue=True, inputs=[IMAGE, MODEL]
    ),
    1: SimpleNamespace(
        api_name="on_drawing", api_visibility="private", queue=False, inputs=[gr.HTML(), MODEL]
    ),
    2: SimpleNamespace(
        api_name="on_example", api_visibility="private", queue=False, inputs=[EXAMPLES]
    ),
    3: SimpleNamespace(  # no such event on the page: a file input outside the queue
        api_name="unchecked", api_visibility="private", queue=False, inputs=[IMAGE]
    ),
}


def queued_from(host: str, forwarded: str | None = None) -> SimpleNamespace:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return SimpleNamespace(
        request=SimpleNamespace(client=SimpleNamespace(host=host), headers=headers)
    )


QUEUE = SimpleNamespace(
    pending_messages_per_session={"live": object()},
    pending_event_ids_session={"live": {"ev1"}},
    event_ids_to_events={"ev1": SimpleNamespace(session_hash="live", request=None)},
)
BLOCKS = SimpleNamespace(fns=FNS, _queue=QUEUE)


def run_async(coroutine) -> None:
    """asyncio.run in a thread of its own: Playwright's session-wide loop may run in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def call(
    path, chunks=(b"",), headers=None, method="POST", delay=0.0, query=b"", scope=None, guard=None
):
    """Run the middleware over an echo app; (status, body the app saw or the refusal)."""
    seen = {}

    async def echo(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen["body"] = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive():
        await asyncio.sleep(delay)
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        **(scope or {}),
    }
    middleware = guard or limits.Limits(echo, BLOCKS)
    run_async(middleware(scope, receive, send))
    status = sent[0]["status"]
    body = sent[1]["body"]
    if status == 200:
        return status, seen.get("body", body)
    return status, json.loads(body)["detail"]


def join(**fields):
    call_body = {"data": [None, "float32"], "fn_index": 0, "session_hash": "abc123", **fields}
    return json.dumps(call_body).encode()


async def status_of(guard, path: str, body: bytes, client: str) -> int:
    """The status the guard answers one POST of `body` to `path` from `client` with."""
    sent, messages = [], [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path,
             "query_string": b"", "headers": [], "client": (client, 1)}  # fmt: skip
    await guard(scope, receive, send)
    return sent[0]["status"]


def test_a_well_formed_queue_call_reaches_gradio_unchanged():
    body = join()
    assert call("/gradio_api/queue/join", [body[:10], body[10:]]) == (200, body)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 422, "not valid JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (join(fn_index=99), 422, "fn_index"),
        (join(fn_index="0"), 422, "fn_index"),
        (join(fn_index=True), 422, "fn_index"),
        (join(session_hash=None), 422, "session_hash"),
        (join(session_hash="../" * 30), 422, "session_hash"),
        (join(trigger_id="x"), 422, "trigger_id"),
        (join(data={"path": "/etc/passwd"}), 422, "list"),
        (join(data=[None] * 1000), 422, "list"),
    ],
)
def test_malformed_queue_calls_are_a_4xx_sentence(body, status, words):
    got, detail = call("/gradio_api/queue/join", [body])
    assert got == status and words in detail


def test_inputs_must_have_the_shape_their_components_take(uploads):
    meta = {"_type": "gradio.FileData"}
    inside = {"path": str(uploads / "0a1b" / "digit.png"), "meta": meta}
    assert call("/gradio_api/queue/join", [join(data=[inside, "int8"])])[0] == 200
    assert call("/gradio_api/queue/join", [join(data=[{"path": "/etc/passwd"}, "x"])])[0] == 200
    bad = [
        ([inside], "takes 2 inputs"),
        (["/etc/passwd", "int8"], "Input 1 is not"),
        ([{"path": {"x": 1}}, "int8"], "Input 1 is not"),
        ([["a"], "int8"], "Input 1 is not"),
        ([{"path": "/etc/passwd", "meta": meta}, "int8"], "only files uploaded"),
        ([{"path": f"{uploads}/../../etc/passwd", "meta": meta}, "int8"], "only files uploaded"),
    ]
    for data, words in bad:
        status, detail = call("/gradio_api/queue/join", [join(data=data)])
        assert status == 422 and words in detail, (data, detail)
    status, detail = call("/gradio_api/call/classify", [json.dumps({"data": ["/x"]}).encode()])
    assert status == 422 and "takes 2 inputs" in detail


def test_result_streams_must_name_a_session_in_the_queue():
    get = {"method": "GET", "chunks": [b""]}
    assert call("/gradio_api/queue/data", query=b"session_hash=live", **get)[0] == 200
    assert call("/gradio_api/queue/data", query=b"session_hash=gone", **get)[0] == 404
    assert call("/gradio_api/queue/data", **get)[0] == 404
    assert call("/gradio_api/call/classify/ev1", **get)[0] == 200
    assert call("/gradio_api/call/classify/nothing", **get)[0] == 404


def test_call_routes_reach_public_endpoints_only():
    body = json.dumps({"data": [None, "float32"]}).encode()
    assert call("/gradio_api/call/classify", [body])[0] == 200
    assert call("/gradio_api/call/on_drawing", [body]) == (404, "No such endpoint.")
    assert call("/gradio_api/call/nope", [body]) == (404, "No such endpoint.")


def direct(fn_index, data):
    body = {"data": data, "fn_index": fn_index, "session_hash": "abc123"}
    return call("/gradio_api/run/on_example", [json.dumps(body).encode()])


def test_only_drawings_and_example_picks_skip_the_queue_and_only_with_an_object():
    assert direct(2, [{"example": "drawn_3"}])[0] == 200  # the name is the handler's to check
    assert direct(0, [None, "float32"]) == (404, "Not found.")  # classify: queue only
    assert direct(3, [None]) == (404, "Not found.")  # files never skip the queue's checks
    assert direct(7, [0]) == (404, "Unknown fn_index.")
    for bad in ([2], [-1], ["0"], [True], [["drawn_3"]]):
        assert direct(2, bad) == (422, "Input 1 is not a value this page sends."), bad
    assert direct(2, [])[0] == 422


def test_drawing_reads_skip_the_queue_with_an_object_and_a_known_model_only():
    assert direct(1, [{"ink": "", "n": 1}, "int8"])[0] == 200
    assert direct(1, [None, None])[0] == 200  # the handler answers these with the empty state
    for ink in ("ink", 7, ["ink"]):
        assert direct(1, [ink, "float32"]) == (422, "Input 1 is not a value this page sends.")
    for model in ("float64", 8, ["int8"], {"name": "int8"}):
        assert direct(1, [{}, model]) == (422, "Input 2 is not a value this page sends.")
    assert direct(1, [{}]) == (422, "This event takes 2 inputs.")


def drawing_reads_at_once(clients: list[str], hold: float = 0.3) -> list[int]:
    """Send one drawing read per client all at once to an app that takes `hold` s each."""

    async def slow(scope, receive, send):
        await asyncio.sleep(hold)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = limits.Limits(slow, BLOCKS)
    body = json.dumps({"data": [{}, None], "fn_index": 1, "session_hash": "abc123"}).encode()

    async def one(client: str) -> int:
        return await status_of(guard, "/gradio_api/run/predict", body, client)

    async def everyone():
        return await asyncio.gather(*(one(client) for client in clients))

    statuses = []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        statuses = pool.submit(asyncio.run, everyone()).result()
    return statuses


def test_one_client_has_at_most_a_few_drawing_reads_in_flight():
    statuses = drawing_reads_at_once(["93.184.216.34"] * (limits.PER_CLIENT_DIRECT + 2))
    assert statuses.count(200) == limits.PER_CLIENT_DIRECT and statuses.count(429) == 2


def test_drawing_reads_beyond_the_servers_share_wait_then_hear_it_is_busy(monkeypatch):
    monkeypatch.setattr(limits, "DIRECT_WAIT", 0.1)  # shorter than a read: the late ones give up
    clients = [f"151.101.1.{k}" for k in range(limits.DIRECT_AT_ONCE + 3)]
    statuses = drawing_reads_at_once(clients)
    assert statuses.count(200) == limits.DIRECT_AT_ONCE and statuses.count(503) == 3
    monkeypatch.setattr(limits, "DIRECT_WAIT", 1.0)  # longer than a read: everyone gets a turn
    assert drawing_reads_at_once(clients) == [200] * len(clients)


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/deep_link",
        "/gradio_api/run-history/records",
        "/gradio_api/mcp/sse",
        "/gradio_api/proxy=http://example.com/",
    ],
)
def test_routes_the_page_does_not_use_are_closed(path):
    assert call(path) == (404, "Not found.")


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/gradio_api/queue/join", limits.JOIN_BODY),
        ("/gradio_api/upload", limits.UPLOAD_BODY),
        ("/gradio_api/cancel", limits.SMALL_BODY),
    ],
)
def test_bodies_over_a_routes_limit_are_refused_declared_or_streamed(path, limit):
    kind = {"content-type": FORM}
    declared = {"content-length": str(limit + 1), **kind}
    assert call(path, [b""], declared)[0] == 413
    head, tail = form(b"").split(b"\r\n\r\n", 1)
    streamed = [head + b"\r\n\r\n"] + [b"x" * 65536] * (limit // 65536 + 2)
    assert call(path, streamed, kind)[0] == 413
    assert call(path, [b""], {"content-length": "12abc", **kind})[0] == 400


FORM = "multipart/form-data; boundary=XyZ"


def form(data: bytes, parts: int = 1, boundary: str = "XyZ", name: str = "files") -> bytes:
    """A multipart upload body as a browser sends it: `parts` files of `data`."""
    part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    return part * parts + f"--{boundary}--\r\n".encode()


def test_an_upload_carries_one_file():
    headers = {"content-type": FORM}
    one = form(b"0123")
    assert call("/gradio_api/upload", [one[:50], one[50:]], headers) == (200, one)
    three = form(b"0123", parts=3)
    chunks = [three[i : i + 7] for i in range(0, len(three), 7)]  # delimiters split across
    assert call("/gradio_api/upload", chunks, headers) == (413, "Upload one file at a time.")


@pytest.mark.parametrize(
    "kind",
    [
        "multipart/form-data; BOUNDARY=XyZ",
        "multipart/form-data; boundary = XyZ",
        'multipart/form-data; boundary="XyZ"',
        "Multipart/Form-Data; Boundary=XyZ",
        "multipart/form-data; boundary=nope; boundary=XyZ",
        "multipart/form-data; boundary=XyZ; boundary=nope",
        "multipart/form-data;boundary=XyZ;charset=utf-8",
    ],
)
def test_no_spelling_of_the_boundary_slips_many_files_through(kind):
    """The boundary is found as Gradio's own parser finds it, so both see the same parts."""
    status, detail = call("/gradio_api/upload", [form(b"x", parts=999)], {"content-type": kind})
    assert status in (400, 413), (kind, status, detail)


@pytest.mark.parametrize(
    "body",
    [
        form(b"x", name="other"),  # Gradio would store it and never say where
        form(b"x", parts=0),
        b'--XyZ\r\nContent-Disposition: form-data; name="files"\r\n\r\nx\r\n--XyZ--\r\n',
        b"not a form at all",
        form(b"x")[:-12],  # cut short
    ],
)
def test_an_upload_that_is_not_one_file_is_refused(body):
    status, detail = call("/gradio_api/upload", [body], {"content-type": FORM})
    assert status == 400 and "one file in a multipart form" in detail


def test_an_upload_needs_a_multipart_form():
    for kind in ("application/json", "multipart/form-data", "text/plain; boundary=XyZ", ""):
        assert call("/gradio_api/upload", [form(b"x")], {"content-type": kind})[0] == 400


def test_forty_joins_at_once_from_one_client_admit_at_most_its_share(monkeypatch):
    """Check and charge are one step: joins sent together cannot all pass an empty count."""
    events = {}
    monkeypatch.setattr(QUEUE, "event_ids_to_events", events)
    made = iter(range(10_000))

    async def queue_app(scope, receive, send):
        await receive()
        await asyncio.sleep(0.05)  # Gradio's push takes a moment: every join is in flight
        event = f"event{next(made)}"
        events[event] = SimpleNamespace(session_hash="abc123", request=None)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps({"event_id": event}).encode()})

    guard = limits.Limits(queue_app, BLOCKS)
    body = join()

    async def one(host: str) -> int:
        return await status_of(guard, "/gradio_api/queue/join", body, host)

    async def flood_then_other():
        statuses = await asyncio.gather(*(one("93.184.216.34") for _ in range(40)))
        again = await one("93.184.216.34")  # its events are still queued
        other = await one("151.101.1.69")
        events.clear()  # the queue has answered them all
        return statuses, again, other, await one("93.184.216.34")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        statuses, again, other, later = pool.submit(asyncio.run, flood_then_other()).result()
    assert statuses.count(200) == limits.PER_CLIENT_EVENTS
    assert statuses.count(429) == 40 - limits.PER_CLIENT_EVENTS
    assert (again, other, later) == (429, 200, 200)


def storing(paths=None):
    """A stand-in for Gradio's upload route: stores each body under its content, says where."""

    async def store(scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = f"/tmp/gradio/{hash(body) & 0xFFFFFF:x}/a.png"
        if paths is not None:
            paths.append(path)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps([path]).encode()})

    return store


def upload_as(who: dict, fill: bytes, shared, size: int = 60_000) -> tuple[int, str]:
    body = form(fill * size)
    headers = {"content-type": FORM, "content-length": str(len(body))}
    return call("/gradio_api/upload", [body], headers, scope=who, guard=shared)


def test_uploads_on_disk_are_bounded_per_client_and_in_all(monkeypatch):
    monkeypatch.setattr(limits, "CLIENT_UPLOAD_BYTES", 150_000)
    monkeypatch.setattr(limits, "ALL_UPLOAD_BYTES", 260_000)
    shared = limits.Limits(storing(), BLOCKS)
    alice, bob, carol = ({"client": (ip, 1)} for ip in ("93.184.216.34", "8.8.8.8", "1.1.1.1"))
    assert upload_as(alice, b"a", shared)[0] == 200
    status, detail = upload_as(alice, b"b", shared)  # 76 kB charged + 60 kB reserved
    assert status == 200
    status, detail = upload_as(alice, b"c", shared)
    assert status == 429 and "uploaded a lot" in detail
    assert upload_as(bob, b"d", shared)[0] == 200
    status, detail = upload_as(carol, b"e", shared)
    assert status == 503 and "all the uploads it can" in detail
    # a window later, the disk has been swept and uploads are welcome again
    later = time.monotonic() + limits.UPLOAD_WINDOW + 120
    monkeypatch.setattr(upload_book.time, "monotonic", lambda: later)
    assert upload_as(carol, b"e", shared)[0] == 200


def test_identical_uploads_cost_their_bytes_once_and_every_file_something():
    paths = []
    shared = limits.Limits(storing(paths), BLOCKS)
    for _ in range(3):
        assert upload_as({}, b"z", shared)[0] == 200
    assert len(set(paths)) == 1 and len(paths) == 3
    size = len(b"z" * 60_000)
    assert shared.book.used("unknown") == size + 3 * limits.MIN_UPLOAD_CHARGE  # no peer: unknown


def test_tiny_uploads_still_cost_something(monkeypatch):
    monkeypatch.setattr(limits, "CLIENT_UPLOAD_BYTES", 4 * limits.MIN_UPLOAD_CHARGE)
    shared = limits.Limits(storing(), BLOCKS)
    statuses = [upload_as({}, bytes([k]), shared, size=1)[0] for k in range(4)]
    assert statuses == [200, 200, 200, 429]  # 3 files of 16 KiB + 1 byte, then a 4th over


def test_an_upload_of_unknown_length_reserves_the_largest_one(monkeypatch):
    monkeypatch.setattr(limits, "CLIENT_UPLOAD_BYTES", limits.UPLOAD_BODY - 1)
    shared = limits.Limits(storing(), BLOCKS)
    status, detail = call("/gradio_api/upload", [form(b"x")], {"content-type": FORM}, guard=shared)
    assert status == 429 and "uploaded a lot" in detail


@pytest.mark.parametrize(
    ("idle", "total", "grace"), [(0.05, 60.0, 60.0), (60.0, 0.05, 60.0), (60.0, 60.0, 0.05)]
)
def test_a_trickling_body_is_dropped(monkeypatch, idle, total, grace):
    """A stall, an overdue body, and a steady trickle below the pace each end in a 408."""
    monkeypatch.setattr(bodies, "BODY_IDLE_SECONDS", idle)
    monkeypatch.setattr(bodies, "BODY_SECONDS", total)
    monkeypatch.setattr(bodies, "BODY_GRACE", grace)
    kind = {"content-type": FORM}
    for route in ("/gradio_api/queue/join", "/gradio_api/upload", "/gradio_api/cancel"):
        chunks = [b"{", b"", b"}"] if route != "/gradio_api/upload" else [b"-", b"-", b"X"]
        status, detail = call(route, chunks, kind, delay=0.03 if min(total, grace) < 1 else 0.2)
        assert status == 408 and "too slowly" in detail, (route, status, detail)


def test_a_stream_may_wait_for_a_disconnect_as_long_as_it_likes(monkeypatch):
    """After the body, receive() is how Starlette hears a client leave: no timeout there."""
    monkeypatch.setattr(bodies, "BODY_IDLE_SECONDS", 0.05)
    sent = []

    async def stream(scope, receive, send):
        await receive()  # the (empty) body of a GET
        await send({"type": "http.response.start", "status": 200, "headers": []})
        assert (await receive())["type"] == "http.disconnect"  # arrives after 0.2 s
        await send({"type": "http.response.body", "body": b"done"})

    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(0.2)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/gradio_api/queue/data",
        "query_string": b"session_hash=live",
        "headers": [],
    }
    run_async(limits.Limits(stream, BLOCKS)(scope, receive, send))
    assert [m.get("status", m.get("body")) for m in sent] == [200, b"done"]


def test_the_limits_fit_what_the_page_sends():
    """An upload is one photo; a drawing's ink data URL (a few kB) fits the queue limit 100x."""
    assert limits.UPLOAD_BODY - limits.MAX_FILE_BYTES <= 2**16
    assert 4 * 2**10 * 100 <= limits.JOIN_BODY <= 2**20


def test_an_identical_upload_costs_its_bytes_again_once_the_first_copy_may_be_gone(monkeypatch):
    paths, now = [], [1000.0]
    monkeypatch.setattr(upload_book.time, "monotonic", lambda: now[0])
    shared = limits.Limits(storing(paths), BLOCKS)
    assert upload_as({}, b"z", shared)[0] == 200
    now[0] += limits.FILE_LIFETIME  # Gradio may have swept the file: it is stored anew
    assert upload_as({}, b"z", shared)[0] == 200
    assert len(set(paths)) == 1
    assert shared.book.used("unknown") == 2 * (60_000 + limits.MIN_UPLOAD_CHARGE)
