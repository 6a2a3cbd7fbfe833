"""Stroke end -> answer on the page, and the server's cost per stroke: reading in the browser
(the reader graph in onnxruntime-web), and with HRNN_BROWSER_READS=0 reading on the server.

    python -m bench.measure_latency [--strokes 100] [--only page|server]
    python -m bench.measure_latency --screenshot docs/screenshot.png
    python -m bench.measure_latency --number [--trials 30]  (a 6-digit number)

Each trial clears, draws one slow stroke (a 7 or a 1, ~0.5 s) with the mouse in headless
Chromium, and times inside the page: pointerup -> first frame showing the answer to the final
ink, and pointerdown -> first frame showing a guess while the pen is still down. Server CPU per
stroke comes from /proc/<pid>/stat; the in-process cost replays the server-reading page's
requests in this process, back to back and at the page's own pace. What the page downloads is
read from the browser's resource timing. Writes results/page_latency.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from bench.paths import write_json
from demo.browser import ROUTE
from tests.support.liveserver import REPO, running_app
from tests.support.pagedriver import (
    CANVAS,
    DESKTOP,
    DIGITS,
    INK,
    clear,
    draw,
    launch_chromium,
    open_page,
)

STROKE_PAUSE_MS = 60  # between the segments of one stroke: a slow, ~0.5 s stroke
IDLE_SECONDS = 5.0  # the server's CPU with the page open and nobody drawing, before and after
SHAPES = ("7", "1")
KEEP = ("what", "machine", "browser", "stroke", "page", "server_reads", "in_process")
PAGES = {  # result key -> environment of demo/app.py
    "page": {},
    "server_reads": {"HRNN_BROWSER_READS": "0"},
}
P95_FROM = 20  # fewer samples than this: the p95 is just the maximum, so none is given
# What the page fetched: every resource's bytes on the wire, and which of them are the repo's.
# (the reader's worker fetches in its own context: the canvas keeps the worker's list)
DOWNLOADS_JS = """(ours) => {
  const worker = document.querySelector('#hrnn-canvas .hrnn-ink')?.hrnnWorkerFiles || [];
  const files = performance.getEntriesByType('resource')
    .concat(performance.getEntriesByType('navigation'))
    .map(e => [e.name, e.transferSize || 0]).concat(worker);
  const served = files.filter(([url]) => decodeURIComponent(url).includes(ours));
  return {
    page_bytes: files.reduce((sum, [, bytes]) => sum + bytes, 0),
    files: Object.fromEntries(served.map(([url, bytes]) => [url.split('/').pop(), bytes])),
  };
}"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Installed before the page's scripts: pointer times (capture phase, so before the canvas'
# own listeners) and, for every change of the answer box, the first frame that shows it.
TIMING_JS = """(() => {
  const marks = (window.__hrnn = { down: [], up: [], shown: [] });
  addEventListener('pointerdown', () => marks.down.push(performance.now()), true);
  addEventListener('pointerup', () => marks.up.push(performance.now()), true);
  let last = '';
  const look = () => {
    const box = document.querySelector('#hrnn-draw-answer .hrnn-answer');
    if (!box) return;
    const now = `${box.dataset.state}|${box.dataset.for}|${box.textContent}`;
    if (now === last) return;
    last = now;
    const seen = { state: box.dataset.state, for: box.dataset.for };
    requestAnimationFrame(() => marks.shown.push({ ...seen, t: performance.now() }));
  };
  const start = () => new MutationObserver(look).observe(document.body,
    { subtree: true, childList: true, characterData: true, attributes: true });
  if (document.body) start(); else addEventListener('DOMContentLoaded', start);
})();"""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: a value that was measured, never an interpolation."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100)
    return ordered[int(rank) - 1]


def summary(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    out = {"n": len(samples), "p50_ms": round(statistics.median(samples), 1)}
    if len(samples) >= P95_FROM:
        out["p95_ms"] = round(percentile(samples, 95), 1)
    out["max_ms"] = round(max(samples), 1)
    out["samples_ms"] = [round(s, 1) for s in samples]
    return out


def brief(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "samples_ms"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def idle_cpu_ms_per_s(pid: int) -> float:
    before = cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    return 1000 * (cpu_seconds(pid) - before) / IDLE_SECONDS


def trial(page, shape: str) -> dict:
    """One cleared canvas, one slow stroke; in-page times of the guess and of the answer."""
    clear(page)
    page.evaluate("() => { const m = window.__hrnn; m.down = []; m.up = []; m.shown = []; }")
    draw(page, DIGITS[shape], steps=2, pause_ms=STROKE_PAUSE_MS, selector=CANVAS)
    final = page.locator(INK).get_attribute("data-sent")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        marks = page.evaluate("() => window.__hrnn")
        down, up = marks["down"][0], marks["up"][-1]
        after = [s for s in marks["shown"] if s["t"] > up and s["state"] == "reading"]
        answers = [s for s in after if s["for"] == final]
        if answers:
            during = [s["t"] for s in marks["shown"] if s["state"] == "reading" and s["t"] < up]
            return {
                "answer_ms": answers[0]["t"] - up,
                "first_guess_ms": during[0] - down if during else None,
                "stroke_ms": up - down,
            }
        time.sleep(0.01)
    raise TimeoutError("no answer appeared after the stroke")


def capture_joins(page) -> list[dict]:
    """Every event call the page makes, queued or direct: its body (the inputs) and route."""
    joins: list[dict] = []

    def seen(request):
        route = "queue" if "/queue/join" in request.url else "direct"
        if request.method == "POST" and ("/queue/join" in request.url or "/run/" in request.url):
            body = json.loads(request.post_data or "{}")
            joins.append({**body, "_route": route, "_t": time.monotonic()})

    page.on("request", seen)
    return joins


def measure(url: str, pid: int, strokes: int) -> dict:
    from playwright.sync_api import sync_playwright  # dev tool only

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = open_page(browser, url, init_script=TIMING_JS, **DESKTOP)
            joins = capture_joins(page)
            for shape in SHAPES:  # warm-up, not counted
                trial(page, shape)
            joins.clear()
            idle_before = idle_cpu_ms_per_s(pid)
            cpu_before, started = cpu_seconds(pid), time.monotonic()
            sent_before = int(page.locator(INK).get_attribute("data-sent"))
            trials = [trial(page, SHAPES[k % 2]) for k in range(strokes)]
            cpu = cpu_seconds(pid) - cpu_before
            seconds = time.monotonic() - started
            sends = int(page.locator(INK).get_attribute("data-sent")) - sent_before
            downloads = page.evaluate(DOWNLOADS_JS, f"/{ROUTE}/")
            # Gradio's queue polls all the time (~50 ms of CPU a second here) and that burn
            # wanders with the machine's load: idle is the mean of a sample before and after
            idle_after = idle_cpu_ms_per_s(pid)
            idle_ms_per_s = (idle_before + idle_after) / 2
            reader = page.locator(INK).get_attribute("data-reader")
        finally:
            browser.close()
    guesses = [t["first_guess_ms"] for t in trials if t["first_guess_ms"] is not None]
    busy = 1000 * cpu - idle_ms_per_s * seconds  # CPU beyond what the idle server burns anyway
    return {
        "stroke_end_to_answer": summary([t["answer_ms"] for t in trials]),
        "first_guess_during_stroke": summary(guesses),
        "strokes_with_a_guess_while_drawing": len(guesses),
        "stroke_ms_median": round(statistics.median(t["stroke_ms"] for t in trials), 1),
        "reader": reader,
        "sends_per_stroke": round(sends / strokes, 2) if sends else None,  # Clear counts one
        "downloads": downloads,
        "requests": len(joins),
        "requests_by_route": dict(Counter(j["_route"] for j in joins)),
        "server_cpu_ms_per_stroke": round(1000 * cpu / strokes, 2),
        "server_idle_cpu_ms_per_s": round(idle_ms_per_s, 1),
        "server_idle_cpu_ms_per_s_before_after": [round(idle_before, 1), round(idle_after, 1)],
        "server_cpu_ms_per_stroke_above_idle": round(busy / strokes, 2),
        "server_cpu_ms_per_request_above_idle": round(busy / len(joins), 2) if joins else None,
        "seconds": round(seconds, 1),
        "_joins": joins,
    }


def in_process_cost(joins: list[dict]) -> dict:
    """CPU per request of the same work in this process: the drawing handler and read() alone,
    back to back (caches warm), and read() again at the page's own pace (the gaps between its
    requests kept), which is how the server meets them."""
    from demo.app import Models, read_drawing
    from demo.canvas import drawn_planes

    models = Models.load(threads=1)
    sent = [j for j in joins if isinstance(j.get("data", [None])[0], dict)]
    drawings = [drawn_planes(j["data"][0])[0] for j in sent]  # each send's planes

    def cpu(work, *args) -> float:
        started = time.thread_time()
        work(*args)
        return time.thread_time() - started

    def read_planes(planes: list) -> None:
        for plane, _ in planes:
            models.get(None).read(plane)

    handler, reading, paced = [], [], []
    for value, planes in zip([j["data"][0] for j in sent] * 3, drawings * 3, strict=True):
        handler.append(cpu(read_drawing, value, models))
        reading.append(cpu(read_planes, planes))
    due = time.monotonic()
    for k, planes in enumerate(drawings):
        if k:  # the page's gap before this request; a pause between strokes counts up to 1 s
            due += min(sent[k]["_t"] - sent[k - 1]["_t"], 1.0)
        time.sleep(max(0.0, due - time.monotonic()))
        paced.append(cpu(read_planes, planes))
    return {
        "requests_replayed": len(sent),
        "handler_cpu_ms_mean": round(1000 * statistics.fmean(handler), 2),
        "read_cpu_ms_mean": round(1000 * statistics.fmean(reading), 2),
        "read_cpu_ms_mean_paced": round(1000 * statistics.fmean(paced), 2),
        "what": "thread CPU per request: read_drawing (decode + preprocess + inference + answer"
        " numbers) and read() alone (preprocess + inference), back to back (x3), 1 onnxruntime"
        " thread; read_cpu_ms_mean_paced: read() once per request at the page's own rhythm",
    }


def screenshot(path: Path, digit: str = "7") -> None:
    """The page with a drawn digit and its reading, for the README."""
    from playwright.sync_api import sync_playwright  # dev tool only

    from tests.support.pagedriver import read_digit

    with running_app() as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = open_page(browser, app.url, **DESKTOP)
        read_digit(page, digit)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))
        browser.close()
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--number" in argv:  # a written number, stroke end -> answer (bench/number_latency.py)
        from bench import number_latency

        return number_latency.main([a for a in argv if a != "--number"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=100)
    parser.add_argument(
        "--only",
        choices=["page", "server"],
        help="measure one page and keep the others' numbers from --out (runs stay under 5 min)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "results" / "page_latency.json")
    parser.add_argument("--screenshot", type=Path, help="only save a screenshot of a drawn 7")
    args = parser.parse_args(argv)
    if args.screenshot:
        return screenshot(args.screenshot)
    old = json.loads(args.out.read_text()) if args.only and args.out.is_file() else {}
    old = {k: v for k, v in old.items() if k in KEEP or k.startswith(("command_", "load_"))}
    result = {
        **old,
        "what": "stroke_end_to_answer: pointerup -> first frame showing the answer to the final "
        "ink; first_guess_during_stroke: pointerdown -> first frame showing a guess while the pen "
        "is down; server CPU from /proc/<pid>/stat (utime+stime), idle baseline measured first",
        f"command_{args.only or 'both'}": " ".join(
            ["python -m bench.measure_latency", *sys.argv[1:]]
        ),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "browser": "Chromium (headless, --disable-gpu: software GL), loopback, 1280x900",
        f"load_before_{args.only or 'both'}": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        "stroke": f"one stroke (a 7 or a 1), mouse, {STROKE_PAUSE_MS} ms pause per segment",
    }
    only = {"page": ["page"], "server": ["server_reads"]}.get(args.only, list(PAGES))
    for name in only:
        with running_app(env=PAGES[name]) as app:
            result[name] = measure(app.url, app.process.pid, args.strokes)
        joins = result[name].pop("_joins")
        if name == "server_reads":
            result["in_process"] = in_process_cost(joins)
    cost = result.get("in_process")
    for name in ("page", "server_reads"):
        if cost is None or name not in result or name not in only:
            continue
        # the server's work for a stroke, done in this process: the server-reading page's reads
        reads = result["server_reads"]["requests"] / args.strokes
        part = result[name]
        for key, read_ms in (("", "read_cpu_ms_mean"), ("_paced", "read_cpu_ms_mean_paced")):
            part[f"server_cpu_vs_in_process{key}"] = round(
                part["server_cpu_ms_per_stroke_above_idle"] / (cost[read_ms] * reads), 2
            )
    result[f"load_after_{args.only or 'both'}"] = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    for name in PAGES:
        if name in result:
            part = result[name]
            print(
                f"{name}: stroke end -> answer {brief(part['stroke_end_to_answer'])}, first guess "
                f"{part['first_guess_during_stroke'].get('p50_ms')} ms (p50), server CPU "
                f"{part['server_cpu_ms_per_stroke']} ms/stroke (above idle "
                f"{part['server_cpu_ms_per_stroke_above_idle']}), {part['requests']} requests"
            )
    print(f"in-process: {result.get('in_process')}")
    for name in ("page", "server_reads"):
        if "server_cpu_vs_in_process" in result.get(name, {}):
            part = result[name]
            print(
                f"{name}: server CPU per stroke / in-process: {part['server_cpu_vs_in_process']} "
                f"back to back, {part['server_cpu_vs_in_process_paced']} at the page's pace; "
                f"downloads {part['downloads']}"
            )
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
