"""Stroke end -> answer for a written number: six digits with the mouse in headless Chromium.

    python -m bench.measure_latency --number [--trials 30] [--only page|server]

Each trial clears the canvas and writes a 6-digit number (digits of the page driver's shapes,
side by side across the 560x280 surface, ~9 strokes), then times inside the page from the
last stroke's pointerup to the first frame showing the answer to the final ink; the number
read is checked against what was written. "page" reads in the browser (strokes grouped into
digits, one onnxruntime-web run per digit in the worker); "server_reads" has
HRNN_BROWSER_READS=0 (the page groups the strokes the same way and sends each digit's PNG;
the server reads them, in one request per guess). Writes
results/number_latency.json.
"""

import os
import platform
import sys
import time
from pathlib import Path

from bench.measure_latency import TIMING_JS, brief, summary
from bench.paths import write_json
from tests.support.liveserver import REPO, running_app
from tests.support.pagedriver import (
    DESKTOP,
    DRAW_ANSWER,
    INK,
    clear,
    draw_points,
    launch_chromium,
    number_points,
    open_page,
)

NUMBERS = ("407147", "710440", "144070")  # six digits each, cycled over the trials
PAGES = {"page": {}, "server_reads": {"HRNN_BROWSER_READS": "0"}}
TARGET_P95_MS = 100


def trial(page, text: str) -> dict:
    """One cleared canvas, one number written; in-page time of its answer, and what it said."""
    clear(page)
    page.evaluate("() => { const m = window.__hrnn; m.down = []; m.up = []; m.shown = []; }")
    draw_points(page, number_points(page, text))
    final = page.locator(INK).get_attribute("data-sent")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        marks = page.evaluate("() => window.__hrnn")
        up = marks["up"][-1]
        answers = [s for s in marks["shown"] if s["t"] > up and s["for"] == final]
        if answers:
            said = page.evaluate(f"() => document.querySelector('{DRAW_ANSWER}').hrnnAnswer")
            return {
                "answer_ms": answers[0]["t"] - up,
                "right": said.get("number") == text,
                "strokes": len(marks["up"]),
            }
        time.sleep(0.01)
    raise TimeoutError("no answer appeared after the number was written")


def measure(url: str, trials: int) -> dict:
    from playwright.sync_api import sync_playwright  # dev tool only

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = open_page(browser, url, init_script=TIMING_JS, **DESKTOP)
            for text in NUMBERS[:2]:  # warm-up, not counted
                trial(page, text)
            runs = [trial(page, NUMBERS[k % len(NUMBERS)]) for k in range(trials)]
            reader = page.locator(INK).get_attribute("data-reader")
            via = page.locator(INK).get_attribute("data-via")
        finally:
            browser.close()
    return {
        "last_stroke_end_to_answer": summary([r["answer_ms"] for r in runs]),
        "numbers_read_right": sum(r["right"] for r in runs),
        "trials": trials,
        "strokes_per_number": runs[0]["strokes"],
        "reader": reader,
        "read_via": via,
    }


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.measure_latency --number")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--only", choices=["page", "server"])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "number_latency.json")
    args = parser.parse_args(argv)
    only = {"page": ["page"], "server": ["server_reads"]}.get(args.only, list(PAGES))
    result = {
        "what": "last_stroke_end_to_answer: the last stroke's pointerup -> first frame showing "
        "the answer to the final ink, for a 6-digit number written with the mouse",
        "command": " ".join(["python -m bench.measure_latency --number", *argv]),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "browser": "Chromium (headless, --disable-gpu: software GL), loopback, 1280x900",
        "load_before": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "numbers": list(NUMBERS),
        "target_p95_ms": TARGET_P95_MS,
    }
    for name in only:
        with running_app(env=PAGES[name]) as app:
            result[name] = measure(app.url, args.trials)
        part = result[name]
        print(
            f"{name}: {brief(part['last_stroke_end_to_answer'])}, "
            f"{part['numbers_read_right']}/{part['trials']} read right, via {part['read_via']}"
        )
    result["load_after"] = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
