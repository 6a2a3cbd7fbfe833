"""The page in headless Chromium, driven with a mouse and with a finger as people draw.

Only the page's own ids, data attributes and ARIA roles are used (tests/support/pagedriver.py),
never Gradio's private DOM. Digit checks need the real model; see conftest's placeholder flag.
"""

import numpy as np
import pytest
from PIL import Image

from bench.paths import SAMPLE
from demo.app import BLANK_UPLOAD, EMPTY, EMPTY_UPLOAD
from demo.reader import INT8_MODEL
from tests.support.pagedriver import (
    CANVAS,
    DIGITS,
    DRAW_ANSWER,
    INK,
    PHONE,
    UPLOAD_ANSWER,
    canvas_points,
    clear,
    draw,
    read_digit,
    sent,
    shown,
    wait_answer,
)

STROKES_IN_A_ROW = 10
HANG_GUARD_MS = 30_000  # far beyond any answer: only a page that stopped answering fails


def tool(page, name: str):
    return page.locator("#hrnn-canvas").get_by_role("button", name=name)


def luminance(page, selector: str, prop: str) -> float:
    """Relative lightness 0..1 of a computed CSS colour of the first match."""
    rgb = page.locator(selector).first.evaluate(
        f"e => getComputedStyle(e).{prop}.match(/[0-9.]+/g).slice(0, 3).map(Number)"
    )
    return (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255


def test_ready_to_draw_on_load_with_a_label_and_no_tool_to_pick(page):
    assert shown(page, DRAW_ANSWER)["message"] == EMPTY
    surface = page.get_by_role("img", name="Drawing area")
    assert surface.count() == 1 and "Ctrl+Z" in surface.get_attribute("aria-label")
    assert page.locator(CANVAS).evaluate("e => getComputedStyle(e).touchAction") == "none"
    assert tool(page, "Undo").is_disabled() and tool(page, "Clear").is_disabled()
    draw(page, DIGITS["1"])  # the very first stroke leaves ink and is read
    assert wait_answer(page)["state"] == "reading"
    assert tool(page, "Undo").is_enabled() and tool(page, "Clear").is_enabled()


@pytest.mark.parametrize("digit", ["1", "0", "7", "4"])
def test_drawn_digits_are_read(page, digit, expect_correct_digits):
    got = read_digit(page, digit)  # a 4 is two strokes: the answer is the one to the last
    assert got["state"] == "reading" and int(got["for"]) == sent(page)
    assert got["digit"] == digit and got["line"].endswith("% sure")


def test_drawn_with_a_finger_on_a_phone_without_scrolling_the_page(open_app, request):
    page = open_app(**PHONE)
    got = read_digit(page, "7", touch=True)
    assert page.evaluate("() => window.scrollY") == 0  # touch-action: none, no page pan
    assert got["state"] == "reading"
    request.getfixturevalue("expect_correct_digits")
    assert got["digit"] == "7"


def test_on_a_phone_canvas_and_top_answer_share_the_first_screen(open_app):
    page = open_app(**PHONE)
    read_digit(page, "1", touch=True)
    height = PHONE["viewport"]["height"]
    canvas = page.locator(CANVAS).bounding_box()
    headline = page.locator(f"{DRAW_ANSWER} .hrnn-headline").bounding_box()
    assert canvas["y"] >= 0 and canvas["y"] + canvas["height"] <= height
    assert headline["height"] > 0 and headline["y"] + headline["height"] <= height, headline


def test_on_a_desktop_canvas_and_answer_sit_side_by_side(page):
    canvas = page.locator(CANVAS).bounding_box()
    answer = page.locator(DRAW_ANSWER).bounding_box()
    assert answer["x"] >= canvas["x"] + canvas["width"] and answer["y"] < canvas["y"] + 100


def test_undo_with_the_button_and_with_ctrl_z(page):
    read_digit(page, "4")
    assert page.locator(INK).get_attribute("data-strokes") == "2"
    tool(page, "Undo").click()
    after_undo = wait_answer(page)  # re-read with one stroke left
    assert page.locator(INK).get_attribute("data-strokes") == "1"
    assert after_undo["state"] == "reading"
    page.locator(CANVAS).focus()
    page.keyboard.press("Control+z")
    emptied = wait_answer(page)
    assert emptied["state"] == "empty" and emptied["message"] == EMPTY
    assert page.locator(INK).get_attribute("data-strokes") == "0"
    assert tool(page, "Undo").is_disabled()


def test_clear_empties_everything(page):
    read_digit(page, "7")
    got = clear(page)
    assert got["state"] == "empty" and got["message"] == EMPTY
    assert got["digit"] == "" and got["line"] == ""
    assert page.locator(f"{DRAW_ANSWER} .hrnn-top li").count() == 0
    assert not page.locator(f"{DRAW_ANSWER} .hrnn-seen").is_visible()
    assert page.locator(INK).get_attribute("data-strokes") == "0"
    blank = page.locator(CANVAS).evaluate(
        "c => !c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some(v => v)"
    )
    assert blank  # the paper itself is empty too


def test_controls_are_reachable_with_the_keyboard(page):
    draw(page, DIGITS["1"])
    wait_answer(page)
    page.locator(CANVAS).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Undo"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Clear"
    page.keyboard.press("Enter")
    assert wait_answer(page)["state"] == "empty"


def answer_while_the_pen_is_down(page, steps: int, pause_ms: int, rest_ms: int) -> dict:
    """Draw a 7 in one stroke (`pause_ms` after each segment, `rest_ms` at the end), read the
    answer box before the pen lifts, then lift it and check the final ink is read too."""
    clear(page)
    points = canvas_points(page, DIGITS["7"])[0]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=steps)
        page.wait_for_timeout(pause_ms)
    page.wait_for_timeout(rest_ms)
    during = shown(page, DRAW_ANSWER)
    page.mouse.up()
    assert wait_answer(page)["state"] == "reading"
    return during


def test_a_guess_appears_while_a_slow_stroke_is_still_drawn(page):
    during = answer_while_the_pen_is_down(page, steps=4, pause_ms=150, rest_ms=0)
    assert during["state"] == "reading", during


def test_a_pen_resting_mid_stroke_gets_a_guess_without_moving(page):
    # The whole 7 in a few ms (no guess is due yet), then the pen rests and nothing moves.
    during = answer_while_the_pen_is_down(page, steps=1, pause_ms=0, rest_ms=600)
    assert during["state"] == "reading", during


def upload_tab(page):
    page.get_by_role("tab", name="Upload").click()
    return page.locator('#hrnn-upload input[type="file"]')


def wait_upload_answer(page, state: str) -> dict:
    """Wait until the upload's answer is in `state` with something other than the prompt."""
    page.wait_for_function(
        f"""() => {{
          const box = document.querySelector('{UPLOAD_ANSWER}');
          const said = box.querySelector('.hrnn-message').textContent;
          return box.dataset.state === '{state}' && said !== {EMPTY_UPLOAD!r};
        }}""",
        timeout=15_000,
    )
    return shown(page, UPLOAD_ANSWER)


def scan(tmp_path) -> tuple:
    with np.load(SAMPLE) as sample:
        image, label = 255 - sample["images"][0], str(int(sample["labels"][0]))
    path = tmp_path / "scan.png"
    Image.fromarray(image).resize((224, 224), Image.Resampling.BILINEAR).save(path)
    return path, label


def test_each_tab_shows_its_own_answer(page, tmp_path, request):
    drawn = read_digit(page, "7")
    upload = upload_tab(page)
    assert shown(page, UPLOAD_ANSWER)["message"] == EMPTY_UPLOAD  # not the drawing's answer
    path, label = scan(tmp_path)
    upload.set_input_files(str(path))
    uploaded = wait_upload_answer(page, "reading")
    page.get_by_role("tab", name="Draw").click()
    assert shown(page, DRAW_ANSWER) == drawn  # the upload did not touch the drawing's answer
    request.getfixturevalue("expect_correct_digits")
    assert uploaded["digit"] == label


def test_switching_the_model_rereads_both_inputs(page, tmp_path):
    if not INT8_MODEL.is_file():
        pytest.skip("no int8 model shipped")
    read_digit(page, "7")
    upload_tab(page).set_input_files(str(scan(tmp_path)[0]))
    assert "float32 model" in wait_upload_answer(page, "reading")["message"]
    page.get_by_role("radio", name="int8").check()
    page.wait_for_function(
        "() => document.querySelector('#hrnn-upload-answer .hrnn-message')"
        ".textContent.includes('int8 model')"
    )
    page.get_by_role("tab", name="Draw").click()
    assert "int8 model" in wait_answer(page)["message"]


def test_a_blank_upload_is_the_empty_state_with_a_sentence(page, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    upload_tab(page).set_input_files(str(blank))
    assert wait_upload_answer(page, "empty")["message"] == BLANK_UPLOAD


def test_a_corrupt_upload_is_one_sentence(page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 500)
    upload_tab(page).set_input_files(str(bad))
    assert wait_upload_answer(page, "error")["message"].startswith("Cannot read this input:")


def test_dark_mode_is_intended(open_app):
    page = open_app(color_scheme="dark", viewport={"width": 1280, "height": 900})
    read_digit(page, "1")
    assert luminance(page, CANVAS, "backgroundColor") < 0.25  # dark paper...
    assert luminance(page, CANVAS, "color") > 0.75  # ...light ink on screen
    assert luminance(page, f"{DRAW_ANSWER} .hrnn-digit", "color") > 0.75  # readable answer
    assert luminance(page, "body", "backgroundColor") < 0.25


def test_every_stroke_in_a_row_is_answered(page):
    """A hang guard, not a timing: stroke end -> answer is measured by bench.measure_latency."""
    for k in range(STROKES_IN_A_ROW):
        clear(page)
        draw(page, DIGITS["17"[k % 2]])
        assert wait_answer(page, timeout_ms=HANG_GUARD_MS)["state"] == "reading"


def test_a_shipped_example_is_read_when_clicked(page, request):
    """The thumbnail hands its file to the upload box, which reads it as any upload."""
    upload_tab(page)
    example = page.get_by_role("button", name="Example: drawn 7")
    if example.count() == 0:
        pytest.skip("no drawn_7.png example shipped")
    example.first.click()
    got = wait_upload_answer(page, "reading")
    request.getfixturevalue("expect_correct_digits")
    assert got["digit"] == "7"
