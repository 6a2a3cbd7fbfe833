"""bench.recalibrate: the card gets the cautious calibration and keeps the training run's."""

import json

import pytest

from bench import recalibrate
from bench.recalibrate import main, recalibrated_card
from demo.reader import ModelCard
from demo.reader import Reader as Classifier
from tests.test_train_calibrate import familiar_set, fat_and_thin, unfamiliar_set
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


def fat_and_thin_by_name() -> tuple[dict, dict]:
    """tests.test_train_calibrate's fat_and_thin, under the validation sets' names."""
    familiar, unfamiliar, widths = fat_and_thin()
    names = ("mnist_validation", "pendigits_validation", "mnist_fat_brush_validation")
    pairs = (familiar["mnist"], familiar["mnist"], unfamiliar["strangers"])
    wide = (widths["mnist"], widths["mnist"], widths["strangers"])
    return dict(zip(names, pairs, strict=True)), dict(zip(names, wide, strict=True))


def test_given_stroke_widths_the_card_says_how_wide_strokes_warm_the_temperature():
    sets, by_name = fat_and_thin_by_name()
    card = recalibrated_card({"format": "hrnn-mnist-card/1", "calibration": TRAINED}, sets, by_name)
    calibration = card["calibration"]
    assert calibration["wide_power"] > 0 and calibration["wide_from"] > 2.0
    read = ModelCard(card)  # what the demo will apply
    assert (read.wide_from, read.wide_power) == (
        calibration["wide_from"],
        calibration["wide_power"],
    )


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


def test_out_leaves_the_card_alone_and_width_blind_fits_one_temperature(
    tmp_path, monkeypatch, capsys
):
    sets, by_name = fat_and_thin_by_name()
    monkeypatch.setattr(recalibrate, "validation_logits", lambda *_: (sets, by_name))
    card = tmp_path / "hrnn_mnist.json"
    text = json.dumps({"weights_sha256": Classifier().card.raw["weights_sha256"]})
    card.write_text(text)
    aware, blind = tmp_path / "aware.json", tmp_path / "blind.json"
    assert main(["--card", str(card), "--out", str(aware)]) == 0
    assert main(["--card", str(card), "--out", str(blind), "--width-blind"]) == 0
    assert card.read_text() == text
    assert json.loads(aware.read_text())["calibration"]["wide_power"] > 0
    assert "wide_power" not in json.loads(blind.read_text())["calibration"]
    aware_said, blind_said = capsys.readouterr().out.split("\nwrote ")[:2]
    assert "past that width" in aware_said and "for every width" in blind_said
