"""Could the page have made this call? Shape checks on queue, /call and /run request bodies.

Gradio answers a malformed call with a 500, or an error event and a traceback in the log (an
unknown fn_index, a string where an image payload goes, a file path it refuses to move); these
checks answer it with a 4xx and one sentence before Gradio parses anything.
"""

import json
import os
import re
from urllib.parse import parse_qs

import gradio as gr
from gradio.utils import get_upload_folder
from gradio_client import utils as client_utils

from demo.bodies import Rejected

MAX_DATA_ITEMS = 8  # the page's events take at most 3 inputs
SESSION_HASH = re.compile(r"[A-Za-z0-9_-]{1,64}")
DIRECT = ("/run/", "/api/")  # events that skip the queue by design: examples, drawing reads
NOT_UPLOADED = "This page reads only files uploaded to it; please upload the image again."
MAX_JSON_DEPTH = 32  # the page's calls nest 4 deep; deeper JSON is refused, never recursed into
TOO_DEEP = "The request body is nested too deeply."
_API_INFO: dict[int, dict] = {}
__all__ = ["Rejected", "check_call", "check_depth", "known_stream"]


def check_call(route: str, body: bytes, blocks: gr.Blocks) -> None:
    """Raise Rejected unless `body` names an event this route may reach, with fitting inputs."""
    call = parse(body)
    if not isinstance(call, dict):
        raise Rejected(422, "The request body must be a JSON object.")
    if route.startswith("/call/"):
        name = route.removeprefix("/call/").removeprefix("v2/").strip("/")
        public = [fn for fn in blocks.fns.values() if fn.api_visibility == "public"]
        fn = next((fn for fn in public if fn.api_name == name), None)
        if fn is None or "/" in name:
            raise Rejected(404, "No such endpoint.")
        if route.startswith("/call/v2/"):
            call = {"data": _named(call, _parameters(blocks, name))}
    else:
        fn = _event(route, call, blocks)
    data = call.get("data")
    if not isinstance(data, list) or len(data) > MAX_DATA_ITEMS:
        raise Rejected(422, f"data must be a list of at most {MAX_DATA_ITEMS} inputs.")
    if fn.queue:
        _check_inputs(fn, data)
    else:
        _check_direct_inputs(fn, data)


def parse(body: bytes) -> object:
    """The JSON value of a body, refused (422) when it is not JSON or nests too deeply."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise Rejected(422, TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError):
        raise Rejected(422, "The request body is not valid JSON.") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise Rejected(422, TOO_DEEP)
    return value


def check_depth(body: bytes) -> None:
    """Any other route's body: too deep a JSON value is a 422 before Gradio parses it."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    try:
        parse(body)
    except Rejected as refusal:
        if refusal.sentence == TOO_DEEP:
            raise
        # not JSON at all: Gradio answers that itself, with a 4xx


def json_depth(value: object) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _named(call: dict, parameters: list[dict]) -> list:
    """A /call/v2 body (inputs by parameter name) as the list of inputs Gradio would build."""
    names = [p.get("parameter_name") for p in parameters]
    unknown = sorted(str(key) for key in call if key not in names and key != "oauth_token")
    if unknown:
        raise Rejected(422, f"Unknown parameter {unknown[0][:40]!r}; this endpoint takes {names}.")
    data = []
    for parameter in parameters:
        name = parameter.get("parameter_name")
        if name in call:
            data.append(call[name])
        elif parameter.get("parameter_has_default"):
            data.append(parameter.get("parameter_default"))
        else:
            raise Rejected(422, f"The parameter {name!r} is required.")
    return data


def _parameters(blocks: gr.Blocks, name: str) -> list[dict]:
    return _api_info(blocks)["named_endpoints"].get("/" + name, {}).get("parameters", [])


def _api_info(blocks: gr.Blocks) -> dict:
    """The endpoints' parameters as Gradio documents them (built once per app)."""
    if id(blocks) not in _API_INFO:
        _API_INFO[id(blocks)] = blocks.get_api_info()
    return _API_INFO[id(blocks)]


def known_stream(route: str, scope: dict, blocks: gr.Blocks) -> bool:
    """False for a result stream (/queue/data, GET /call/.../id) of a session not in the queue.

    Gradio starts such a stream and then aborts it (a traceback in the log, a broken response).
    """
    queue = blocks._queue
    parts = route.strip("/").split("/")
    if route == "/queue/data":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session = (query.get("session_hash") or [""])[0]
    elif scope["method"] == "GET" and parts[0] == "call" and len(parts) in (3, 4):
        event = parts[-1]
        known = queue.event_ids_to_events.get(event)
        session = known.session_hash if known else event
        for name, ids in list(queue.pending_event_ids_session.items()):
            session = name if event in ids else session
    else:
        return True
    return session in queue.pending_messages_per_session


def _event(route: str, call: dict, blocks: gr.Blocks):
    """The event a /queue/join or /run call names by fn_index, if that route may reach it."""
    direct = route.startswith(DIRECT)
    fn_index, session = call.get("fn_index"), call.get("session_hash")
    if type(fn_index) is not int or fn_index not in blocks.fns:
        raise Rejected(404 if direct else 422, "Unknown fn_index.")
    fn = blocks.fns[fn_index]
    if direct and fn.queue:
        raise Rejected(404, "Not found.")  # queued events are reached through the queue only
    if not isinstance(session, str) or not SESSION_HASH.fullmatch(session):
        raise Rejected(422, "session_hash must be 1-64 letters, digits, '-' or '_'.")
    trigger = call.get("trigger_id")
    if trigger is not None and type(trigger) is not int:
        raise Rejected(422, "trigger_id must be an integer.")
    return fn


def _check_inputs(fn, data: list) -> None:
    """One value per input (or per API input), each of the shape its component takes."""
    api_inputs = [block for block in fn.inputs if not getattr(block, "skip_api", False)]
    blocks = fn.inputs if len(data) == len(fn.inputs) else api_inputs
    if len(data) != len(blocks):
        raise Rejected(422, f"This event takes {len(fn.inputs)} inputs.")
    root = os.path.abspath(get_upload_folder()).rstrip(os.sep) + os.sep

    def uploaded(payload: dict) -> dict:
        path = payload.get("path")
        if not isinstance(path, str) or not os.path.abspath(path).startswith(root):
            raise Rejected(422, NOT_UPLOADED)  # Gradio would refuse it with a traceback
        return payload

    for number, (block, value) in enumerate(zip(blocks, data, strict=True), start=1):
        model = getattr(block, "data_model", None)
        if value is None or model is None:
            continue
        try:
            model.model_validate(value, context={"validate_meta": True})
        except Exception:  # pydantic's ValidationError and anything a hostile value provokes
            raise Rejected(422, f"Input {number} is not a value this page sends.") from None
        client_utils.traverse(value, uploaded, client_utils.is_file_obj_with_meta)


def _check_direct_inputs(fn, data: list) -> None:
    """Events outside the queue run at once, so only ones we can check fully: the drawing's
    reads and example picks (an object the handler checks whole, and a model name)."""
    if len(data) != len(fn.inputs):
        raise Rejected(422, f"This event takes {len(fn.inputs)} inputs.")
    for number, (block, value) in enumerate(zip(fn.inputs, data, strict=True), start=1):
        if isinstance(block, gr.HTML):
            if value is not None and not isinstance(value, dict):
                raise Rejected(422, f"Input {number} is not a value this page sends.")
        elif isinstance(block, gr.Radio):
            if value is not None and value not in [choice for _, choice in block.choices]:
                raise Rejected(422, f"Input {number} is not a value this page sends.")
        else:
            raise Rejected(404, "Not found.")
