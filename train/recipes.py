"""Training recipes by name. Everything a run depends on is here, in plain sight."""

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Recipe:
    name: str
    epochs: int
    batch_size: int
    optimizer: str  # "rmsprop" (as Keras defines it) or "adamw"
    lr: float
    weight_decay: float = 0.0
    schedule: str = "constant"  # or "onecycle": linear warm-up, then cosine decay
    warmup_fraction: float = 0.0
    grad_clip: float = 0.0  # max global gradient norm; 0 = no clipping
    label_smoothing: float = 0.0
    augment: bool = False  # train/augment.py: shifts, rotations, scalings, elastic, thickness
    val_size: int = 0  # images carved from the 60,000 training images for every choice made

    def to_dict(self) -> dict:
        return asdict(self)


# fmt: off
RECIPES = {
    # The Keras example as published: RMSprop(lr=1e-3, rho=0.9, epsilon=1e-7), batch 32,
    # 5 epochs, all 60,000 training images, nothing chosen from results.
    "seed": Recipe("seed", epochs=5, batch_size=32, optimizer="rmsprop", lr=1e-3),
    # Fewest seconds to the seed's accuracy on a GPU: larger batches, a one-cycle schedule.
    "fast": Recipe(
        "fast", epochs=4, batch_size=128, optimizer="adamw", lr=4e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.15, grad_clip=1.0,
    ),
    # Furthest the same 128/128 architecture goes: augmentation that looks like real
    # handwriting, AdamW, one-cycle, clipping, label smoothing; best epoch by validation.
    "best": Recipe(
        "best", epochs=60, batch_size=128, optimizer="adamw", lr=3e-3, weight_decay=0.01,
        schedule="onecycle", warmup_fraction=0.05, grad_clip=1.0, label_smoothing=0.1,
        augment=True, val_size=5000,
    ),
}
# fmt: on

OVERRIDABLE = {f.name for f in fields(Recipe)} - {"name"}


def get_recipe(name: str, **overrides) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    values = RECIPES[name].to_dict()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Recipe(**values)
