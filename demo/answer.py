"""The answer shown beside an input, and the same object the API returns.

A reading becomes plain numbers (top classes, the 28x28 the model saw, its belief after each
row) that demo/answer.js draws in the browser: no PNG files are written per request. The two
grids travel as base64 bytes (row-major uint8), one short string each instead of ~1,000 JSON
numbers that the server would otherwise walk through on every answer.
"""

import base64
import math
from pathlib import Path

import gradio as gr
import numpy as np

from demo.numbers import (
    FRAGMENT,
    MARGIN,
    MAX_DIGITS,
    OVERLAP,
    SPECK,
    TOO_MANY,
    WIDE,
)
from demo.reader import DECIMALS, TOUCHING, NumberReading, Reading

HERE = Path(__file__).resolve().parent
TOP = 3  # classes listed under the headline
# The answer's words, filled in by `sentence` here and by demo/web/shown.js in the browser.
# The headline above the sentence says "Not sure: maybe 7, or 1" (answer.js): the sentence
# below it does not say it again.
SENTENCES = {
    "sure": "Read as {label} ({percent} sure); the guess settled on {label} after row "
    "{settled_row} of {rows}. {model} model.",
    "unsure": "{percent} for {label}: draw it again, larger or clearer, to be sure. {model} model.",
    "number_sure": "Read as {number} ({percent} sure that every digit is right); under each "
    "digit, its own confidence. {model} model.",
    "number_unsure": "{percent} that every digit is right: under a marked digit, the reader's "
    "second choice. {model} model.",
    "approximate": ": its confidences are approximate (quantized weights).",
    "touching": TOUCHING,
    "too_many": TOO_MANY,
}
# How the page groups its strokes into digits (demo/canvas.js), with demo.numbers' own rules:
# strokes overlapping across OVERLAP of the narrower are one digit; a group smaller than SPECK
# of the tallest is dropped; fewer than two groups of FRAGMENT of the tallest's height is one
# digit (demo.reading.is_number); a group wider than WIDE times its height among others is
# digits touching; each digit's plane is its box plus MARGIN; more than MAX_DIGITS is TOO_MANY.
GROUPING = {
    "overlap": OVERLAP,
    "speck": SPECK,
    "fragment": FRAGMENT,
    "wide": WIDE,
    "margin": MARGIN,
    "max_digits": MAX_DIGITS,
    "max_strokes": 4 * MAX_DIGITS,  # strokes beyond this are scribble: bounded work
}
TEMPLATE = """
<div class="hrnn-answer" data-name="{name}" data-state="empty" data-for="" data-sure=""
 aria-live="polite">
  <p class="hrnn-headline"><span class="hrnn-digit"></span><span class="hrnn-sure"></span></p>
  <ol class="hrnn-digits" aria-label="Each digit and its own confidence"></ol>
  <p class="hrnn-message"></p>
  <ol class="hrnn-top" aria-label="Top 3 classes"></ol>
  <div class="hrnn-pictures">
    <figure>
      <canvas class="hrnn-seen" role="img" aria-label="What the model sees, 28x28"></canvas>
      <figcaption>What the model sees (28x28, after preprocessing)</figcaption>
    </figure>
    <figure>
      <div class="hrnn-classes"></div>
      <canvas class="hrnn-belief" role="img" aria-label="Belief after each row read"></canvas>
      <figcaption>Belief after each row read (rows down, classes across)</figcaption>
    </figure>
  </div>
</div>
"""


def answer_view(elem_id: str, message: str, number: int | None = None) -> gr.HTML:
    """An output that renders answer objects; starts in the empty state with `message`."""
    return gr.HTML(
        value=empty(message, number),
        label="answer",  # the name API clients see for /classify's answer
        show_label=False,
        html_template=TEMPLATE.replace("{name}", elem_id),
        css_template=(HERE / "answer.css").read_text(encoding="utf-8"),
        js_on_load=(HERE / "answer.js").read_text(encoding="utf-8"),
        apply_default_css=False,
        elem_id=elem_id,
    )


def empty(message: str, number: int | None = None) -> dict:
    """Nothing to read (yet): the sentence says what to do."""
    return {"state": "empty", "message": message, "for": number}


def refusal(message: str, number: int | None = None) -> dict:
    """The input could not be read: one sentence, never a traceback."""
    return {"state": "error", "message": message, "for": number}


def percent(probability: float) -> str:
    """Floored, so that 99.7% is never shown as "100%": certainty the model does not have."""
    return f"{math.floor(100 * probability)}%"


def facts(card, blank: str) -> dict:
    """What the browser's formatter (demo/web/shown.js) needs besides the graph's outputs.

    The sentences are SENTENCES themselves: the page words an answer read in the browser as it
    words one read here, from one copy of the wording.
    """
    return {
        "classes": list(card.class_names),
        "sure_at": card.sure_at,
        "model": card.precision,
        "approximate": card.approximate,
        "top": TOP,
        "decimals": DECIMALS,
        "blank": blank,
        "sentences": SENTENCES,
        "grouping": GROUPING,
    }


def sentence(fields: dict, kind: str = "") -> str:
    """The answer in words: SENTENCES filled in from `fields` (shown.js does the same);
    kind "number_" words a number."""
    text = SENTENCES[kind + ("sure" if fields["sure"] else "unsure")].format(**fields)
    return text[:-1] + SENTENCES["approximate"] if fields["approximate"] else text


def shown(reading: Reading, number: int | None = None) -> dict:
    """A reading as the page draws it and the API returns it: the CLI's record and more."""
    top = reading.ranked[:TOP]
    message = sentence(
        {
            "label": reading.label,
            "runner_up": reading.runner_up,
            "percent": percent(reading.confidence),
            "settled_row": reading.settled_row,
            "rows": len(reading.rows),
            "model": reading.precision,
            "sure": reading.sure,
            "approximate": reading.approximate,
        }
    )
    return {
        "state": "reading",
        "message": message,
        "for": number,
        **reading.record(),
        "runner_up": reading.runner_up,
        "model": reading.precision,
        "settled_row": reading.settled_row,
        "classes": list(reading.class_names),
        "top": [[reading.class_names[k], round(float(reading.probabilities[k]), 4)] for k in top],
        "pixels": grid(reading.pixels),
        "rows": grid(reading.rows * 255),
        "rows_shape": list(reading.rows.shape),
    }


def shown_number(number: NumberReading, number_for: int | None = None) -> dict:
    """A number as the page draws it and the API returns it: its record (docs/numbers.md) and
    the sentence; digits that touch are the TOUCHING sentence with their boxes; a lone digit
    (the others held nothing to read) is answered as a single digit."""
    if len(number.digits) == 1 and not number.touching:
        return shown(number.digits[0][0], number_for)
    record = number.record()
    if record is None:
        raise ValueError("a number with no digits has no answer")
    if number.touching:
        return {"state": "error", "message": TOUCHING, "for": number_for, **record}
    first = number.digits[0][0]
    fields = {
        "number": number.text,
        "percent": percent(number.confidence),
        "model": first.precision,
        "sure": number.sure,
        "approximate": first.approximate,
    }
    message = sentence(fields, "number_")
    model = first.precision
    return {"state": "reading", "message": message, "for": number_for, **record, "model": model}


def grid(values: np.ndarray) -> str:
    """0..255 values -> base64 of their row-major uint8 bytes (the page decodes with atob)."""
    return base64.b64encode(np.clip(np.rint(values), 0, 255).astype(np.uint8).tobytes()).decode()
