"""Request bodies under a deadline: read whole, spooled, or counted as they pass; one-line answers.

A body must keep a minimum pace: after a short grace it averages MIN_BODY_RATE, never stalls
BODY_IDLE_SECONDS, and is complete within BODY_SECONDS. A sender trickling a byte every few
seconds is cut off after about BODY_GRACE seconds, whatever the size it declared.
"""

import asyncio
import json
import tempfile

BODY_GRACE = 5.0  # seconds any body may take before the pace below is asked of it
MIN_BODY_RATE = 16 * 2**10  # bytes a second on average after the grace (128 kbit/s: 2G speed)
BODY_IDLE_SECONDS = 5.0  # a body that stalls this long between chunks is dropped
BODY_SECONDS = 60.0  # and every body must be complete this long after it starts
SPOOL_IN_MEMORY = 256 * 2**10  # a spooled body past this goes to a temporary file


class Rejected(Exception):
    """A call the page would never make: an HTTP status and one sentence."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


def too_large(limit: int) -> Rejected:
    return Rejected(413, f"The request is larger than this route accepts ({limit} bytes).")


class Pace:
    """The deadline of one body: how long the next chunk may be waited for."""

    def __init__(self) -> None:
        self.started = asyncio.get_running_loop().time()
        self.size = 0

    async def next(self, receive) -> dict:
        """The next body message, or 408 when the body is too slow."""
        now = asyncio.get_running_loop().time()
        due = self.started + min(BODY_SECONDS, BODY_GRACE + self.size / MIN_BODY_RATE)
        left = min(BODY_IDLE_SECONDS, due - now)
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            message = await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            raise Rejected(408, "The request body arrived too slowly.") from None
        self.size += len(message.get("body", b""))
        return message


async def chunks(receive, limit: int):
    """The body's chunks as they arrive, at the pace above and at most `limit` bytes in all."""
    pace = Pace()
    while True:
        message = await pace.next(receive)
        if message["type"] == "http.disconnect":
            raise Rejected(400, "The client went away.")
        if pace.size > limit:
            raise too_large(limit)
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def read_all(receive, limit: int) -> bytes:
    """The whole body (at most `limit` bytes) in memory."""
    return b"".join([chunk async for chunk in chunks(receive, limit)])


async def spool(receive, limit: int, feed) -> tempfile.SpooledTemporaryFile:
    """The whole body in a spooled file (memory, then disk), each chunk shown to `feed` first.

    The caller closes the file. Nothing downstream waits on a slow sender: the body is whole
    before anyone else sees it.
    """
    body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned)
    try:
        async for chunk in chunks(receive, limit):
            feed(chunk)
            body.write(chunk)
        body.seek(0)
        return body
    except BaseException:
        body.close()
        raise


def replay(body: bytes, receive):
    """Hand the checked body on once, then pass the client's own messages (disconnects)."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def replay_file(body, receive, chunk: int = 256 * 2**10):
    """Hand a spooled body on in chunks, then pass the client's own messages."""
    done = False

    async def replayed():
        nonlocal done
        if done:
            return await receive()
        data = body.read(chunk)
        more = len(data) == chunk
        done = not more
        return {"type": "http.request", "body": data, "more_body": more}

    return replayed


def counting(receive, limit: int):
    """receive() that refuses past `limit` bytes or when the body is too slow.

    Once the body is complete, messages pass untimed: streams wait on receive() for a disconnect.
    """
    pace, done = None, False

    async def counted():
        nonlocal pace, done
        if done:
            return await receive()
        pace = pace or Pace()
        message = await pace.next(receive)
        done = message["type"] != "http.request" or not message.get("more_body")
        if pace.size > limit:
            raise too_large(limit)
        return message

    return counted


async def answer(send, status: int, sentence: str) -> None:
    """One JSON sentence as the whole response."""
    body = json.dumps({"detail": sentence}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
