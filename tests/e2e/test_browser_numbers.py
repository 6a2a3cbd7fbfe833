"""Numbers on the page in headless Chromium: written with the mouse and with a finger, digits
grouped by where their strokes lie, each read by the same graph; touching digits and too many
marks are one sentence; and what a first visit meets (title, sentence contrast, a model choice
that stays put).

Only the page's own ids, data attributes and ARIA roles are used (tests/support/pagedriver.py).
"""

import pytest

from demo.numbers import TOO_MANY
from demo.reader import TOUCHING
from tests.support.pagedriver import (
    CANVAS,
    DIGITS,
    DRAW_ANSWER,
    INK,
    PHONE,
    clear,
    draw,
    draw_points,
    number_points,
    wait_answer,
)

MODEL = "#hrnn-model"


def answer_object(page) -> dict:
    return page.evaluate(f"() => document.querySelector('{DRAW_ANSWER}').hrnnAnswer")


def write(page, text: str, touch: bool = False) -> dict:
    clear(page)
    draw_points(page, number_points(page, text), touch=touch)
    return wait_answer(page)


def digit_cells(page) -> list[dict]:
    cells = page.locator(f"{DRAW_ANSWER} .hrnn-digits li")
    return [
        {"sure": cells.nth(k).get_attribute("data-sure"), "text": cells.nth(k).inner_text()}
        for k in range(cells.count())
    ]


def test_a_four_digit_number_written_with_the_mouse_is_read(page, expect_correct_digits):
    got = write(page, "4071")
    assert got["state"] == "reading" and got["digit"] == "4071", got
    assert page.locator(INK).get_attribute("data-digits") == "4"  # four groups of strokes
    shown = answer_object(page)
    assert [d["label"] for d in shown["digits"]] == list("4071")
    boxes = [d["box"] for d in shown["digits"]]
    assert boxes == sorted(boxes) and all(len(box) == 4 for box in boxes)
    cells = digit_cells(page)
    assert len(cells) == 4 and all("%" in cell["text"] for cell in cells)  # each its own
    assert not page.locator(f"{DRAW_ANSWER} .hrnn-seen").is_visible()  # no heatmap for a number


def test_a_number_written_by_touch_on_a_phone_is_read_on_the_first_screen(open_app, request):
    page = open_app(**PHONE)
    got = write(page, "4071", touch=True)
    assert page.evaluate("() => window.scrollY") == 0
    height = PHONE["viewport"]["height"]
    for part in (CANVAS, f"{DRAW_ANSWER} .hrnn-headline", f"{DRAW_ANSWER} .hrnn-digits"):
        box = page.locator(part).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (part, box)
    assert got["state"] == "reading"
    request.getfixturevalue("expect_correct_digits")
    assert got["digit"] == "4071"


def test_the_server_reads_a_number_the_same_way(page, expect_correct_digits):
    page.get_by_role("radio", name="int8").check()  # the int8 model is read on the server
    got = write(page, "4071")
    assert page.locator(INK).get_attribute("data-via") == "server"
    assert got["state"] == "reading" and got["digit"] == "4071", got


def test_a_four_drawn_in_two_strokes_stays_one_digit(page, expect_correct_digits):
    clear(page)
    draw(page, DIGITS["4"])
    got = wait_answer(page)
    assert page.locator(INK).get_attribute("data-digits") == "1"
    assert got["digit"] == "4" and page.locator(f"{DRAW_ANSWER} .hrnn-seen").is_visible()


def test_digits_that_touch_are_one_sentence(page):
    clear(page)
    strokes = number_points(page, "11")
    box = page.locator(CANVAS).bounding_box()
    left, right = box["x"] + 0.55 * box["width"], box["x"] + 0.95 * box["width"]
    top, bottom = box["y"] + 0.3 * box["height"], box["y"] + 0.7 * box["height"]
    zigzag = [(left, top), (left + 0.1 * box["width"], bottom), (right - 0.15 * box["width"], top)]
    draw_points(page, [strokes[0], [*zigzag, (right, bottom)]])
    got = wait_answer(page)
    assert got["state"] == "error" and got["message"] == TOUCHING


def test_more_than_twelve_digits_is_one_sentence_and_nothing_is_read(page):
    got = write(page, "1" * 13)
    assert got["state"] == "error" and got["message"] == TOO_MANY
    assert page.locator(INK).get_attribute("data-digits") == ""


def test_the_title_is_set_in_one_font(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#hrnn-title h1"})
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    assert len(fonts) == 1, fonts  # no first word in another, lighter font


def contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the page's background."""
    return page.evaluate(
        """(selector) => {
          const rgb = (c) => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
          const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
            .reduce((s, v, k) => s + v * [0.2126, 0.7152, 0.0722][k], 0);
          const fg = lum(rgb(getComputedStyle(document.querySelector(selector)).color));
          const bg = lum(rgb(getComputedStyle(document.body).backgroundColor));
          return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        }""",
        selector,
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_answer_sentence_meets_wcag_aa(open_app, scheme):
    page = open_app(color_scheme=scheme, viewport={"width": 1280, "height": 900})
    assert contrast(page, f"{DRAW_ANSWER} .hrnn-message") >= 4.5


def test_the_model_choice_stays_put_when_the_first_answer_appears(page):
    before = page.locator(MODEL).bounding_box()
    draw(page, DIGITS["7"])
    wait_answer(page)
    assert page.locator(MODEL).bounding_box()["y"] == pytest.approx(before["y"], abs=1)


def test_on_a_phone_the_model_choice_is_on_the_first_screen(open_app):
    page = open_app(**PHONE)
    model = page.locator(MODEL).bounding_box()
    canvas = page.locator(CANVAS).bounding_box()
    assert model["y"] + model["height"] <= canvas["y"]  # above the drawing, not under the heatmap


def test_a_single_digit_still_shows_its_heatmap_on_the_wide_surface(page):
    clear(page)
    draw(page, DIGITS["7"])
    got = wait_answer(page)
    assert got["state"] == "reading" and "number" not in answer_object(page)
    assert page.locator(f"{DRAW_ANSWER} .hrnn-seen").is_visible()
    assert page.locator(f"{DRAW_ANSWER} .hrnn-digits li").count() == 0


def test_a_digit_the_reader_is_not_sure_of_is_marked_with_its_runner_up(page):
    """The answer view alone: a number answer as the worker sends it, one digit unsure."""
    digits = [
        {"label": "4", "confidence": 0.99, "sure": True, "runner_up": "9", "box": [0, 0, 9, 9]},
        {"label": "7", "confidence": 0.55, "sure": False, "runner_up": "1", "box": [20, 0, 9, 9]},
    ]
    answer = {"state": "reading", "message": "m", "for": 10**6, "number": "47", "sure": False,
              "confidence": 0.54, "digits": digits, "model": "float32"}  # fmt: skip
    page.evaluate(
        """(value) => document.dispatchEvent(new CustomEvent("hrnn-answer",
             { detail: { answer: "hrnn-draw-answer", value } }))""",
        answer,
    )
    cells = digit_cells(page)
    assert [cell["sure"] for cell in cells] == ["true", "false"]
    assert "99%" in cells[0]["text"] and "or" not in cells[0]["text"]
    assert "55%" in cells[1]["text"] and "or 1" in cells[1]["text"]
    headline = page.locator(f"{DRAW_ANSWER} .hrnn-sure").inner_text()
    assert headline.startswith("Not sure") and headline not in answer["message"]
