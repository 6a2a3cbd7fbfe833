"""Drive the page in headless Chromium as a person would: mouse or finger strokes, Undo, Clear.

Shared by the browser tests and the latency benchmark. Only the page's own element ids and
data attributes are used (demo/canvas.py, demo/answer.py), never Gradio's private DOM.
"""

import os
import time

CHROMIUM = os.environ.get("HRNN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 664}, "has_touch": True, "is_mobile": True}
CANVAS = "#hrnn-canvas canvas"
INK = "#hrnn-canvas .hrnn-ink"
DRAW_ANSWER = "#hrnn-draw-answer .hrnn-answer"
UPLOAD_ANSWER = "#hrnn-upload-answer .hrnn-answer"
# Unit strokes (x, y in -1..1 of the canvas, y down), one list per pen stroke.
DIGITS = {
    "1": [[(0.05, -0.7), (0.0, 0.0), (-0.05, 0.7)]],
    "0": [
        [
            (0.0, -0.7),
            (-0.35, -0.5),
            (-0.45, 0.0),
            (-0.35, 0.5),
            (0.0, 0.7),
            (0.35, 0.5),
            (0.45, 0.0),
            (0.35, -0.5),
            (0.02, -0.7),
        ]
    ],
    "7": [[(-0.45, -0.65), (0.45, -0.65), (0.15, 0.0), (-0.1, 0.7)]],
    "4": [[(-0.2, -0.7), (-0.45, 0.15), (0.45, 0.15)], [(0.2, -0.35), (0.2, 0.7)]],
}


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_page(browser, url: str, init_script: str | None = None, ready: str = CANVAS, **context):
    """A fresh page (own context) on the app, ready to draw; context: viewport, touch, theme."""
    page = browser.new_context(**(context or DESKTOP)).new_page()
    if init_script:
        page.add_init_script(init_script)
    page.goto(url)
    page.wait_for_selector(ready, timeout=60_000)
    page.wait_for_selector(f"{DRAW_ANSWER}[data-state]", timeout=60_000)
    # reads in the browser start once its reader has loaded (or failed: then the server reads)
    page.wait_for_function(
        f"() => document.querySelector('{INK}')?.dataset.reader !== 'loading'", timeout=60_000
    )
    return page


def canvas_points(page, strokes, selector: str = CANVAS) -> list[list[tuple[float, float]]]:
    """Unit-coordinate strokes -> page coordinates over the canvas."""
    box = page.locator(selector).first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    half = min(box["width"], box["height"]) / 2
    return [[(cx + x * half, cy + y * half) for x, y in stroke] for stroke in strokes]


INK_WIDTH, BRUSH = 560, 12  # the ink plane's width and the brush radius in it (canvas.js)


def number_points(page, text: str, selector: str = CANVAS) -> list[list[tuple[float, float]]]:
    """Page-coordinate strokes that write `text` (digits of DIGITS) side by side across the
    canvas, each digit in its own slot with a clear gap between neighbours' ink."""
    box = page.locator(selector).first.bounding_box()
    slot = box["width"] / len(text)
    brush = BRUSH * box["width"] / INK_WIDTH
    half = min(0.75 * box["height"] / 2, (slot - 3 * brush) / 0.9)
    cy = box["y"] + box["height"] / 2
    strokes = []
    for k, digit in enumerate(text):
        cx = box["x"] + slot * (k + 0.5)
        strokes += [[(cx + x * half, cy + y * half) for x, y in s] for s in DIGITS[digit]]
    return strokes


def draw_points(page, strokes, steps: int = 6, touch: bool = False) -> None:
    """Page-coordinate strokes with the mouse, or (touch) with a finger."""
    if touch:
        return _touch(page, strokes, steps)
    for points in strokes:
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
        page.mouse.up()


def draw(page, strokes, steps: int = 6, pause_ms: float = 0, selector: str = CANVAS) -> None:
    """Mouse strokes: press, drag through the points (pausing between segments), release."""
    for points in canvas_points(page, strokes, selector):
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
            if pause_ms:
                page.wait_for_timeout(pause_ms)
        page.mouse.up()


def draw_touch(page, strokes, steps: int = 6) -> None:
    """Finger strokes through the DevTools protocol: real touch events, as a phone sends."""
    _touch(page, canvas_points(page, strokes), steps)


def _touch(page, strokes, steps: int) -> None:
    cdp = page.context.new_cdp_session(page)
    for points in strokes:
        path = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            path += [
                (x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps)
                for k in range(1, 1 + steps)
            ]
        for k, (x, y) in enumerate(path):
            kind = "touchStart" if k == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def sent(page) -> int:
    """How many inks the canvas has sent so far (its send number)."""
    return int(page.locator(INK).get_attribute("data-sent") or 0)


def wait_answer(page, timeout_ms: int = 15_000) -> dict:
    """Wait for the draw answer to the canvas' LAST send, then return what it shows."""
    page.wait_for_function(
        """() => {
          const ink = document.querySelector('#hrnn-canvas .hrnn-ink');
          const answer = document.querySelector('#hrnn-draw-answer .hrnn-answer');
          return ink && answer && answer.dataset.for === ink.dataset.sent;
        }""",
        timeout=timeout_ms,
    )
    return shown(page, DRAW_ANSWER)


def shown(page, selector: str) -> dict:
    """State, headline digit, 'sure' line and sentence of one answer box."""
    box = page.locator(selector)
    return {
        "state": box.get_attribute("data-state"),
        "sure": box.get_attribute("data-sure"),
        "for": box.get_attribute("data-for"),
        "digit": box.locator(".hrnn-digit").inner_text().strip(),
        "line": box.locator(".hrnn-sure").inner_text().strip(),
        "message": box.locator(".hrnn-message").inner_text().strip(),
    }


def clear(page) -> dict:
    """Press Clear (if there is ink) and wait for the empty answer."""
    button = page.locator("#hrnn-canvas").get_by_role("button", name="Clear")
    if button.is_enabled():
        button.click()
    return wait_answer(page)


def read_digit(page, digit: str, touch: bool = False) -> dict:
    """Clear, draw one of DIGITS, and return the answer to its last stroke."""
    clear(page)
    (draw_touch if touch else draw)(page, DIGITS[digit])
    return wait_answer(page)


def wait_until(check, timeout_s: float = 15.0, every_s: float = 0.01):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError("the page did not get there in time")
