"""demo/web/preprocess.js and width.js are twins of the server's drawing path, held to it.

The page reads drawings in the browser with preprocess.js's drawingPixels; the server reads the same
ink with demo.preprocess.to_mnist. Here Node runs the JavaScript on canvas-like inks (thin and
fat strokes, specks, dots, strokes off the edge, ink over the border) and every 28x28 must match
the server's to float32 rounding, every blank and every refusal the same, and the temperature
each 28x28's stroke width earns (width.js) the server's to 1e-6. The page-level test
(tests/e2e/test_browser_reader.py) holds the model and the answer to the server's too.
"""

import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from demo.classifier import ModelCard
from demo.preprocess import MOSTLY_INK, PreprocessError, to_mnist
from PIL import Image, ImageDraw

from bench.paths import REPO
from demo.canvas import SIDE

WEB = REPO / "demo" / "web"
CASES = 240  # random drawings, three sweeps of SWEEP cases each, then SWEEP symmetric strokes
SWEEP = 40
SUPER = 4  # strokes drawn at 4x and area-averaged: anti-aliased edges, as a canvas draws them
WARMING = {"temperature": 1.1, "wide_from": 3.0, "wide_power": 1.5, "sure_at": 0.5}
NODE_SCRIPT = """
import { readFileSync } from "node:fs";
import { drawingPixels } from "%s";
import { plane } from "%s";
import { temperatureFor } from "%s";
const alpha = readFileSync(process.argv[2]);
const side = %d, out = [], warmed = [], card = %s;
for (let i = 0; i < alpha.length / (side * side); i++) {
  const found = drawingPixels(alpha.subarray(i * side * side, (i + 1) * side * side), side, 28, 20,
    %s);
  out.push(found.pixels ? Array.from(found.pixels) : found.server ? "server" : found.error || null);
  const input = found.pixels && Float32Array.from(found.pixels, (v) => Math.fround(v / 255));
  warmed.push(found.pixels ? temperatureFor(plane(28, 28, input), card) : null);
}
console.log(JSON.stringify({ out, warmed }));
"""


def _swept(case: int) -> Image.Image:
    """Cases on the rules' edges: a piece swept away from a stroke and one swept in size (part of
    the digit, or a speck?), and dashes swept in length and width (a dot, or a digit?)."""
    big = Image.new("L", (SIDE * SUPER, SIDE * SUPER), 0)
    pen = ImageDraw.Draw(big)
    sweep, step = divmod(case - CASES, SWEEP)
    if sweep < 2:  # a 1, and a piece beside it: farther and farther, or bigger and bigger
        pen.line([(560, 240), (560, 880)], fill=255, width=96)
        x, radius = (700 + 12 * step, 96) if sweep == 0 else (700, 16 + 4 * step)
        pen.ellipse([x - radius, 560 - radius, x + radius, 560 + radius], fill=255)
    else:  # a dash: longer and longer, in five widths
        width, length = 32 + 8 * (step % 5), 8 * step
        pen.line([(500, 560), (500 + length, 560)], fill=255, width=width)
    return big


def _symmetric(rng: np.random.Generator) -> np.ndarray:
    """A straight round-capped stroke between whole pixels, rasterised exactly symmetric: its
    centre of mass lies on a half pixel, where only the sums' last bit decides the rounding."""
    (x0, y0), (x1, y1) = rng.integers(90, 190, (2, 2))
    y, x = (np.mgrid[0 : SIDE * SUPER, 0 : SIDE * SUPER] + 0.5) / SUPER
    along = np.clip(
        ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / max(1, (x1 - x0) ** 2 + (y1 - y0) ** 2),
        0,
        1,
    )
    inside = (x - x0 - along * (x1 - x0)) ** 2 + (y - y0 - along * (y1 - y0)) ** 2 <= 144
    return np.rint(inside.reshape(SIDE, SUPER, SIDE, SUPER).mean((1, 3)) * 255).astype(np.uint8)


def _drawing(rng: np.random.Generator, case: int) -> np.ndarray:
    """One canvas ink (alpha, uint8 SIDE x SIDE) of a kind chosen by case number."""
    if case >= CASES + 3 * SWEEP:
        return _symmetric(rng)
    if case >= CASES:
        return np.asarray(_swept(case).resize((SIDE, SIDE), Image.Resampling.BOX))
    big = Image.new("L", (SIDE * SUPER, SIDE * SUPER), 0)
    pen = ImageDraw.Draw(big)
    kind = case % 6
    width = int(rng.choice([4, 8, 16, 24, 24, 24, 40, 70, 120])) * SUPER
    low, high = (0, SIDE * SUPER) if kind == 5 else (SIDE * SUPER // 5, SIDE * SUPER * 4 // 5)
    for _ in range(int(rng.integers(1, 4))):
        points = [tuple(map(float, rng.uniform(low, high, 2))) for _ in range(rng.integers(2, 8))]
        pen.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round caps, as the page's canvas draws
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    if kind == 3:  # a speck somewhere
        x, y = rng.uniform(0, SIDE * SUPER, 2)
        pen.ellipse([x - 20, y - 20, x + 20, y + 20], fill=255)
    if kind == 4 and case % 12 == 4:  # a dot alone
        big = Image.new("L", big.size, 0)
        ImageDraw.Draw(big).ellipse([500, 500, 560, 560], fill=255)
    return np.asarray(big.resize((SIDE, SIDE), Image.Resampling.BOX))


def _png(alpha: np.ndarray) -> bytes:
    """The ink as the page sends it to the server: black on transparent, as PNG."""
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 3] = alpha
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, "PNG")
    return out.getvalue()


def _server(alpha: np.ndarray):
    """What the server makes of this ink: the 28x28, None for blank, or its refusal."""
    try:
        pixels = to_mnist(_png(alpha), 28, 20)
    except PreprocessError as error:
        return str(error)
    return None if pixels is None else pixels.ravel()


def _twin(node: str, folder, inks: list[np.ndarray], warmed: bool = False) -> list:
    """What the page's twin (run in Node) makes of each ink, in the same forms as _server; with
    warmed, also the temperature width.js gives each 28x28 under the card WARMING."""
    (folder / "alpha.bin").write_bytes(b"".join(ink.tobytes() for ink in inks))
    modules = [(WEB / name).as_uri() for name in ("preprocess.js", "planes.js", "width.js")]
    script = NODE_SCRIPT % (*modules, SIDE, json.dumps(WARMING), json.dumps(MOSTLY_INK))
    (folder / "run.mjs").write_text(script)
    run = subprocess.run(
        [node, str(folder / "run.mjs"), str(folder / "alpha.bin")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    answer = json.loads(run.stdout)
    return (answer["out"], answer["warmed"]) if warmed else answer["out"]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("no node on PATH: the browser test (tests/e2e) still holds the twin")
    return found


@pytest.fixture(scope="module")
def read_twice(node, tmp_path_factory) -> tuple[list, list]:
    rng = np.random.default_rng(2026)
    inks = [_drawing(rng, case) for case in range(CASES + 4 * SWEEP)]
    browser, warmed = _twin(node, tmp_path_factory.mktemp("twin"), inks, warmed=True)
    read = [(ink, _server(ink), here) for ink, here in zip(inks, browser, strict=True)]
    return read, warmed


@pytest.fixture(scope="module")
def twins(read_twice) -> list[tuple[np.ndarray, object, object]]:
    return read_twice[0]


def test_every_28x28_matches_the_servers_to_float32_rounding(twins):
    pixels = [(there, here) for _, there, here in twins if here != "server" and there is not None]
    assert len(pixels) > 0.75 * CASES  # most random drawings are read here
    for there, here in pixels:
        assert np.abs(there - np.asarray(here, np.float32)).max() < 1e-3  # of 255


def test_the_temperature_each_width_earns_matches_the_servers(read_twice):
    twins, warmed = read_twice
    card = ModelCard({"calibration": WARMING})
    pairs = [(there, t) for (_, there, here), t in zip(twins, warmed, strict=True) if t is not None]
    there = np.stack([pixels for pixels, _ in pairs]).reshape(-1, 28, 28) / np.float32(255)
    expected = card.temperatures(there.astype(np.float32))
    here = np.array([t for _, t in pairs], np.float32)
    assert (expected > WARMING["temperature"]).mean() > 0.2  # fat strokes warmed...
    assert (expected == np.float32(WARMING["temperature"])).mean() > 0.1  # ...thin ones not
    np.testing.assert_allclose(here, expected, rtol=1e-6)


def test_blanks_and_refusals_are_the_same_on_both_sides(twins):
    blanks = [here for _, there, here in twins if there is None]
    assert blanks and all(here is None for here in blanks)
    for _, there, here in twins:
        if isinstance(there, str) and here != "server":
            assert here == there  # the same sentence


def test_ink_over_the_border_is_left_to_the_server(twins):
    # the server reads such ink as a photo (its alpha border is not transparent): a path the
    # twin does not copy, so the page sends that ink to the server instead
    for ink, _, here in twins:
        border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]]) / 255
        assert (here == "server") == (np.median(border) >= 0.5)
    assert any(here == "server" for _, _, here in twins), "some fat strokes cover the border"


def test_mostly_ink_is_refused_in_the_same_words(node, tmp_path):
    ink = np.full((SIDE, SIDE), 255, np.uint8)
    ink[:2], ink[-2:], ink[:, :2], ink[:, -2:] = 0, 0, 0, 0  # a transparent rim: a drawn layer
    assert _server(ink) == MOSTLY_INK
    assert _twin(node, tmp_path, [ink]) == [MOSTLY_INK]
