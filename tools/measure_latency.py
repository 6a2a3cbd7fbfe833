"""Stroke-end-to-label latency in Chromium on loopback: this page vs a stock Sketchpad page.

    python -m tools.measure_latency [--strokes 20] [--no-stock]
    python -m tools.measure_latency --screenshot docs/screenshot.png

Each trial clears the canvas, waits for the empty state, draws one digit-like stroke with the
mouse and times, inside the page, from the pointerup event to the first animation frame after
the label's top class appears. Prints p50/p95 and writes results/browser_latency.json.
The "stock" page is gr.Sketchpad() with defaults and a .change listener (the brush has to be
clicked first, as a user must), feeding the same analysis code. Dev tool: needs Playwright and
/usr/bin/chromium (or $HRNN_CHROMIUM); not part of the Space runtime.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from tools.liveserver import REPO, running_app

CHROMIUM = os.environ.get("HRNN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKETCH = "#hrnn-sketch"
LABEL_VALUE = '#hrnn-label [data-testid="label-output-value"]'
LABEL_EMPTY = '#hrnn-label [aria-label="Empty value"]'
STATUS = '#hrnn-status [data-testid="markdown"]'
# In-page clock, installed before the page's own scripts so the pointerup listener runs first
# (the editor's window-level listener commits the stroke and can take tens of ms): pointerup
# time, then the first animation frame after the label's top class changes.
TIMING_JS = """(() => {
  window.__hrnn = { up: [], shown: [] };
  window.addEventListener('pointerup', () => window.__hrnn.up.push(performance.now()), true);
  let last = null;
  const watch = () => new MutationObserver(() => {
    const el = document.querySelector('#hrnn-label [data-testid="label-output-value"]');
    const text = el ? el.textContent : null;
    if (text !== last) {
      last = text;
      if (text) requestAnimationFrame(() => window.__hrnn.shown.push(performance.now()));
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
  if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();"""
# Unit strokes (x, y in -1..1 of the drawing area, y down), one list per pen stroke.
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


def open_page(browser, url: str):
    """A page on the app, ready to draw, with the in-page timing hooks installed."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(TIMING_JS)
    page.goto(url)
    page.wait_for_selector(f"{SKETCH} canvas", timeout=60_000)
    return page


def drawing_area(page) -> tuple[float, float, float]:
    """Centre x, y and half-size of the square drawing area (the editor centres its canvas)."""
    box = page.locator(f"{SKETCH} canvas").first.bounding_box()
    half = min(box["width"], box["height"]) * 0.3
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, half


def draw(page, strokes: list[list[tuple[float, float]]], steps: int = 6) -> None:
    """Draw unit-coordinate strokes with the mouse, as a person would: press, drag, release."""
    cx, cy, half = drawing_area(page)
    for stroke in strokes:
        points = [(cx + x * half, cy + y * half) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
        page.mouse.up()


def clear(page) -> None:
    page.locator(f'{SKETCH} button[aria-label="Clear canvas"]').click()


def wait_label(page, timeout_ms: int = 15_000) -> str:
    page.wait_for_selector(LABEL_VALUE, timeout=timeout_ms)
    return page.locator(LABEL_VALUE).inner_text().strip()


def timed_digit(page, strokes, timeout_s: float = 15.0, pick_brush: bool = False) -> float:
    """Clear, wait for the empty label, draw; ms from the last pointerup to the label shown."""
    clear(page)
    page.wait_for_selector(LABEL_EMPTY, timeout=int(timeout_s * 1000))
    if pick_brush:  # the stock page drops the brush on clear; a user must pick it again
        page.locator(f'{SKETCH} button[aria-label="Brush"]').click()
    page.evaluate("() => { window.__hrnn.up = []; window.__hrnn.shown = []; }")
    draw(page, strokes)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        marks = page.evaluate("() => window.__hrnn")
        shown = [t for t in marks["shown"] if marks["up"] and t > marks["up"][-1]]
        if shown:
            return shown[0] - marks["up"][-1]
        time.sleep(0.01)
    raise TimeoutError("no label appeared after the stroke")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "max_ms": round(max(samples), 1),
        "samples_ms": [round(s, 1) for s in samples],
    }


def measure(url: str, strokes: int, stock: bool) -> dict:
    from playwright.sync_api import sync_playwright  # dev tool only

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = open_page(browser, url)
            shapes = ["1", "7"]
            timed_digit(page, DIGITS["1"], pick_brush=stock)  # warm-up, not counted
            samples = [
                timed_digit(page, DIGITS[shapes[k % 2]], pick_brush=stock) for k in range(strokes)
            ]
            return summary(samples)
        finally:
            browser.close()


def screenshot(path: Path, digit: str = "7") -> None:
    """The page with a drawn digit and its reading, for the README."""
    from playwright.sync_api import sync_playwright  # dev tool only

    with running_app() as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = open_page(browser, app.url)
        draw(page, DIGITS[digit])
        wait_label(page)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#hrnn-seen img, #hrnn-belief img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length === 2"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        browser.close()
    print(f"wrote {path}")


def serve_stock() -> None:
    """The "before" page: stock Sketchpad, stock change event, same analysis code."""
    import gradio as gr

    from demo.app import Models, analyse

    models = Models.load()
    with gr.Blocks() as demo:
        sketch = gr.Sketchpad(elem_id="hrnn-sketch")
        label = gr.Label(num_top_classes=3, elem_id="hrnn-label")
        sketch.change(lambda value: analyse(value, models)[0], sketch, label)
    demo.queue().launch(server_name="127.0.0.1", ssr_mode=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--no-stock", action="store_true", help="skip the stock 'before' page")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "browser_latency.json")
    parser.add_argument("--screenshot", type=Path, help="only save a screenshot of a drawn 7")
    parser.add_argument("--serve-stock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_stock:
        return serve_stock()
    if args.screenshot:
        return screenshot(args.screenshot)
    result = {
        "what": "ms from a stroke's pointerup to the first frame showing the new top-3 label",
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "browser": "Chromium (headless, --disable-gpu: software GL), loopback",
        "command": " ".join(["python -m tools.measure_latency", *sys.argv[1:]]),
    }
    with running_app() as app:
        result["after"] = measure(app.url, args.strokes, stock=False)
        result["after"]["page"] = "demo/app.py (ink read from the canvas, hidden-button event)"
    print(f"after : p50 {result['after']['p50_ms']} ms, p95 {result['after']['p95_ms']} ms")
    if not args.no_stock:
        command = ("-m", "tools.measure_latency", "--serve-stock")
        with running_app(command) as app:
            result["before"] = measure(app.url, max(5, args.strokes // 2), stock=True)
            result["before"]["page"] = "gr.Sketchpad() defaults + .change (stock)"
        print(f"before: p50 {result['before']['p50_ms']} ms, p95 {result['before']['p95_ms']} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
