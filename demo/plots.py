"""Pictures for the page, drawn with numpy + Pillow (the Space has no matplotlib).

Both pictures share one row height, so the digit the model sees and its belief after each row
line up side by side: row k of the heatmap is what the column LSTM believes once it has read
rows 1..k of the image on its left.
"""

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROW_PX = 8  # screen pixels per image row in both pictures
CELL_W = 18  # heatmap column width per class
HEADER = 16  # heatmap strip above the cells that names the classes
GUTTER = 22  # heatmap strip left of the cells that numbers the rows
# Dark blue -> teal -> yellow: a perceptually ordered ramp (viridis' anchors), interpolated.
_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32
)
_BACKGROUND = (255, 255, 255)
_TEXT = (60, 60, 60)
_HIGHLIGHT = (220, 40, 40)


@lru_cache(maxsize=4)  # loaded once per size, not six times per request
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def colour_ramp(values: np.ndarray) -> np.ndarray:
    """Map values in 0..1 to uint8 RGB along the ramp (NaN counts as 0)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0)
    pos = v * (len(_ANCHORS) - 1)
    low = np.minimum(pos.astype(np.int64), len(_ANCHORS) - 2)
    frac = (pos - low)[..., None]
    rgb = _ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac
    return rgb.round().astype(np.uint8)


def seen_image(pixels: np.ndarray, scale: int = ROW_PX) -> np.ndarray:
    """The model's input (0..255 float, white on black) as uint8, nearest-neighbour upscaled."""
    grey = np.clip(np.nan_to_num(np.asarray(pixels, dtype=np.float32)), 0, 255)
    grey = grey.round().astype(np.uint8)
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def belief_heatmap(row_probabilities: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """(rows, classes) probabilities -> RGB heatmap, one row of cells per image row read.

    The column of the final answer is outlined, so the eye can follow when the model made up
    its mind on the way down the digit.
    """
    probs = np.asarray(row_probabilities, dtype=np.float32)
    rows, classes = probs.shape
    cells = np.repeat(np.repeat(colour_ramp(probs), ROW_PX, axis=0), CELL_W, axis=1)
    canvas = Image.new("RGB", (GUTTER + classes * CELL_W + 2, HEADER + rows * ROW_PX + 2))
    canvas.paste(_BACKGROUND, (0, 0, *canvas.size))
    canvas.paste(Image.fromarray(cells), (GUTTER, HEADER))
    draw = ImageDraw.Draw(canvas)
    font = _font(11)
    for k, name in enumerate(class_names[:classes]):
        x = GUTTER + k * CELL_W + CELL_W // 2
        draw.text((x, HEADER // 2), name, fill=_TEXT, font=font, anchor="mm")
    for row in range(0, rows + 1, 7):
        y = HEADER + max(row * ROW_PX - 1, 0)
        draw.text((GUTTER - 3, y), str(row), fill=_TEXT, font=_font(9), anchor="rm")
    best = int(np.argmax(probs[-1]))
    left = GUTTER + best * CELL_W
    draw.rectangle(
        (left, HEADER, left + CELL_W - 1, HEADER + rows * ROW_PX - 1), outline=_HIGHLIGHT, width=2
    )
    return np.asarray(canvas)
