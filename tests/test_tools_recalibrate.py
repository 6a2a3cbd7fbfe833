"""tools.recalibrate: the card gets the cautious calibration and keeps the training run's."""

import json

import pytest

from tests.test_train_calibrate import familiar_set, unfamiliar_set
from tools.recalibrate import main, recalibrated_card
from train.data import DataError

TRAINED = {"temperature": 0.99, "sure_at": 0.93, "rule": "as trained"}


def named_sets() -> dict:
    return {
        "mnist_validation": familiar_set(),
        "pendigits_validation": familiar_set(),
        "mnist_fat_brush_validation": unfamiliar_set(),
    }


def test_the_card_gets_the_cautious_temperature_and_keeps_the_training_calibration():
    card = recalibrated_card({"weights_sha256": "abc", "calibration": TRAINED}, named_sets())
    assert card["calibration_training"] == TRAINED
    assert card["weights_sha256"] == "abc"
    calibration = card["calibration"]
    assert calibration["temperature"] > calibration["fitted_temperature"]
    assert set(calibration["validation"]) == set(named_sets())


def test_recalibrating_twice_keeps_the_first_training_calibration():
    once = recalibrated_card({"calibration": TRAINED}, named_sets())
    twice = recalibrated_card(once, named_sets())
    assert twice["calibration_training"] == TRAINED
    assert twice["calibration"]["temperature"] == pytest.approx(once["calibration"]["temperature"])


def test_without_the_familiar_validation_sets_it_refuses():
    sets = named_sets()
    del sets["pendigits_validation"]
    with pytest.raises(DataError, match="pendigits_validation"):
        recalibrated_card({"calibration": TRAINED}, sets)


def test_a_card_for_other_weights_is_refused_and_left_as_it_was(tmp_path, capsys):
    card = tmp_path / "hrnn_mnist.json"
    text = json.dumps({"weights_sha256": "not these weights", "calibration": TRAINED})
    card.write_text(text)
    assert main(["--card", str(card)]) == 2
    assert "was not exported from the weights" in capsys.readouterr().err
    assert card.read_text() == text


def test_a_missing_card_is_one_sentence(tmp_path, capsys):
    assert main(["--card", str(tmp_path / "none.json")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
