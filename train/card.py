"""Name the recipe that reproduces existing weights: `python -m train.card WEIGHTS --recipe R`.

Weights trained before a recipe had its name (a longer command line with the same settings)
get a card naming the recipe and its one command, so that every export carries them. The card
is rewritten only when every setting that changes the weights is the recipe's; the command
that really ran is kept as `trained_as`. The weights are not touched.
"""

import argparse
import sys
from pathlib import Path

from train.checkpoint import atomic_write_json, sha256_file
from train.config import RECIPES, hyperparameters, make_config
from train.report import load_json


class CardError(Exception):
    """A card that cannot be given the recipe; the message says why."""


def calibration_kind(card: dict) -> str:
    """How the card's calibration was fitted: the cautious rule records its fitted temperature."""
    return "cautious" if "fitted_temperature" in (card.get("calibration") or {}) else "plain"


def recipe_card(card: dict, recipe: str) -> dict:
    """The card naming `recipe` and its command, or CardError naming the settings that differ."""
    recorded = dict(card.get("config") or {})
    if not recorded:
        raise CardError("the card records no settings to compare with the recipe")
    recorded.setdefault("calibration", calibration_kind(card))
    wanted = hyperparameters(make_config(recipe), recorded.get("world_size", 1))
    differ = sorted(
        key for key in wanted if key != "recipe" and recorded.get(key, wanted[key]) != wanted[key]
    )
    missing = sorted(key for key in wanted if key not in recorded and key != "recipe")
    if differ:
        raise CardError(f"the weights were trained with other settings than {recipe!r}: {differ}")
    if card.get("recipe") == recipe and card.get("command") == command_for(recipe):
        return card
    trained_as = {"recipe": card.get("recipe"), "command": card.get("command")}
    if missing:
        trained_as["settings_not_recorded"] = missing  # the recipe's defaults at the time
    return card | {
        "recipe": recipe,
        "command": command_for(recipe),
        "config": wanted,
        "trained_as": card.get("trained_as", trained_as),
    }


def command_for(recipe: str) -> str:
    return f"python -m train --recipe {recipe}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.card", description=__doc__)
    parser.add_argument("weights", type=Path, help="weights file; its card is beside it (.json)")
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    args = parser.parse_args(argv)
    card_path = args.weights.with_suffix(".json")
    try:
        card = load_json(card_path)
        if sha256_file(args.weights) != card.get("weights_sha256"):
            raise CardError(f"{args.weights} is not the weights file {card_path} describes")
        updated = recipe_card(card, args.recipe)
    except (OSError, ValueError, CardError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if updated == card:
        print(f"{card_path} already names recipe {args.recipe!r}")
        return 0
    atomic_write_json(updated, card_path)
    print(f"{card_path}: recipe {args.recipe!r}, command {updated['command']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
