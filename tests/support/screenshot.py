"""The README's picture of the page: a 7 drawn with the mouse, read, and the rows' beliefs.

    python -m tests.support.screenshot [--text 7] [--out docs/screenshot.png]

Starts `python demo/app.py` on a free loopback port, draws in headless Chromium as a visitor
would (tests/support/pagedriver.py), waits for the answer and saves the page as a PNG.
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.paths import REPO
from tests.support.liveserver import running_app
from tests.support.pagedriver import (
    DESKTOP,
    DIGITS,
    draw_points,
    launch_chromium,
    number_points,
    open_page,
    wait_answer,
)

OUT = REPO / "docs" / "screenshot.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="7", help="a digit of pagedriver.DIGITS, or a number")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.text or any(ch not in DIGITS for ch in args.text):
        parser.error(f"--text takes the digits {''.join(sorted(DIGITS))} only")
    with running_app() as app, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = open_page(browser, app.url, **DESKTOP)
        draw_points(page, number_points(page, args.text))
        answer = wait_answer(page)
        page.wait_for_timeout(300)  # the answer's pictures are painted a frame later
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"read {answer.get('digit')!r}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
