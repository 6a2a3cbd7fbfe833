"""demo.examples: the shipped pictures travel in the page as thumbnails, and a pick names one."""

import io

import pytest
from PIL import Image

from demo import examples
from demo.reader import PreprocessError


def test_the_row_carries_every_shipped_example_as_data_never_a_path():
    row = examples.example_row("x")
    html = row.html_template
    assert examples.shipped(), "demo/examples holds no picture"
    for name, path in examples.shipped().items():
        assert f'data-example="{name}"' in html
        assert str(path) not in html and str(examples.FOLDER) not in html
    thumb = Image.open(io.BytesIO(examples.thumbnail(next(iter(examples.shipped().values())))))
    assert max(thumb.size) <= examples.THUMBNAIL


def test_a_pick_names_a_shipped_file():
    name, path = next(iter(examples.shipped().items()))
    assert examples.example_file({"example": name}) == str(path)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "drawn_7",
        {"example": "../app"},
        {"example": "drawn_7.png"},
        {"example": ["drawn_7"]},
        {"example": "drawn_7", "path": "/etc/passwd"},
        {"path": str(examples.FOLDER / "drawn_7.png")},
        {},
    ],
)
def test_anything_else_is_one_sentence(value):
    with pytest.raises(PreprocessError, match="No such example"):
        examples.example_file(value)


def test_thumbnails_are_pngs():
    assert examples.thumbnail(next(iter(examples.shipped().values()))).startswith(b"\x89PNG")
