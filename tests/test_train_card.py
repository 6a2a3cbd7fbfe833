"""python -m train.card: weights trained by a longer command with a recipe's settings get a card
naming the recipe and its one command; anything else is refused and leaves the card alone."""

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest

from train.card import main, recipe_card
from train.config import hyperparameters, make_config

OLD_COMMAND = "python -m train --recipe writers --bf16 --epochs 8 --box 0.1 --run-dir runs/x"


def trained_as_writers(**changes) -> dict:
    """A card as the shipped weights' was written: recipe writers, the shipped settings."""
    config = hyperparameters(make_config("shipped"), 1) | {"recipe": "writers"} | changes
    config.pop("calibration")  # not recorded before the recipe table named it
    return {
        "recipe": "writers",
        "command": OLD_COMMAND,
        "config": config,
        "calibration": {"temperature": 1.13, "fitted_temperature": 0.98, "sure_at": 0.86},
    }


def write(folder: Path, card: dict) -> Path:
    weights = folder / "hrnn_mnist.pt"
    weights.write_bytes(b"weights")
    card = card | {"weights_sha256": hashlib.sha256(b"weights").hexdigest()}
    weights.with_suffix(".json").write_text(json.dumps(card))
    return weights


def call(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_the_card_names_the_recipe_and_its_command_and_keeps_what_ran():
    card = recipe_card(trained_as_writers(), "shipped")
    assert card["recipe"] == "shipped" and card["command"] == "python -m train --recipe shipped"
    assert card["config"] == hyperparameters(make_config("shipped"), 1)
    assert card["trained_as"]["command"] == OLD_COMMAND
    assert card["trained_as"]["recipe"] == "writers"
    assert card["calibration"]["temperature"] == 1.13  # nothing the model does changes


def test_naming_twice_keeps_the_first_command_and_changes_nothing():
    once = recipe_card(trained_as_writers(), "shipped")
    assert recipe_card(once, "shipped") == once


@pytest.mark.parametrize(("change", "named"), [({"epochs": 2}, "epochs"), ({"box": 0.0}, "box")])
def test_other_settings_are_refused_by_name(tmp_path, change, named):
    weights = write(tmp_path, trained_as_writers(**change))
    before = weights.with_suffix(".json").read_bytes()
    code, _, stderr = call(weights, "--recipe", "shipped")
    assert code == 2 and stderr.startswith("error: ") and named in stderr
    assert weights.with_suffix(".json").read_bytes() == before


def test_a_plainly_calibrated_card_is_not_the_shipped_recipe(tmp_path):
    card = trained_as_writers() | {"calibration": {"temperature": 0.99, "sure_at": 0.9}}
    code, _, stderr = call(write(tmp_path, card), "--recipe", "shipped")
    assert code == 2 and "calibration" in stderr


def test_weights_that_do_not_match_the_card_are_refused(tmp_path):
    weights = write(tmp_path, trained_as_writers())
    weights.write_bytes(b"other weights")
    code, _, stderr = call(weights, "--recipe", "shipped")
    assert code == 2 and "not the weights file" in stderr


def test_the_command_line_rewrites_the_card_beside_the_weights(tmp_path):
    weights = write(tmp_path, trained_as_writers())
    code, stdout, stderr = call(weights, "--recipe", "shipped")
    assert code == 0, stderr
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["recipe"] == "shipped" and card["trained_as"]["command"] == OLD_COMMAND
    assert weights.read_bytes() == b"weights"
    assert call(weights, "--recipe", "shipped")[1].endswith("already names recipe 'shipped'\n")
