"""Training augmentation: what each change does to a digit, and that it is reproducible."""

import numpy as np
import torch

from train.augment import AugmentConfig, augment, box_stretch, fat_marker

ONLY_MARKER = AugmentConfig(
    rotate_degrees=0, scale_range=0, shear=0, shift_pixels=0, elastic_pixels=0, thickness_prob=0
)


def four(open_top: bool = True) -> torch.Tensor:
    """An MNIST-like 4 (white on black, 0..1): two uprights and a bar, the top open or closed."""
    image = torch.zeros(28, 28)
    image[5:17, 11:13] = 1  # left upright, down to the bar
    image[5:24, 16:18] = 1  # right upright, to the bottom
    image[15:17, 8:20] = 1  # the bar
    if not open_top:
        image[5:7, 11:18] = 1
    return image


def test_a_marker_fattens_strokes_closes_small_gaps_and_keeps_the_digit_in_the_frame():
    digits = torch.stack([four()] * 4)
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "marker_prob": 1.0})
    fat = augment(digits, config, torch.Generator().manual_seed(0))
    assert fat.sum() > 1.5 * digits.sum()  # strokes +2 px a side, then shrunk back
    rows, cols = np.nonzero(fat[0].numpy() > 0.5)
    assert rows.min() >= 2 and rows.max() <= 25 and cols.min() >= 2 and cols.max() <= 25
    gap = fat[0, 6:9, 13:16]  # between the uprights, at the top: the gap a fat pen closes
    assert gap.min() > 0.5 and four()[6:9, 13:16].max() == 0


def test_without_a_marker_share_no_digit_is_fattened():
    digits = torch.stack([four()] * 8)
    kept = augment(digits, ONLY_MARKER, torch.Generator().manual_seed(0))
    torch.testing.assert_close(kept, digits, atol=1e-5, rtol=0)


def test_the_marker_share_is_the_share_of_digits_drawn_fat():
    digits = torch.stack([four()] * 2000)
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "marker_prob": 0.25})
    fat = augment(digits, config, torch.Generator().manual_seed(1))
    share = ((fat.sum((1, 2)) > 1.5 * digits.sum((1, 2))).float().mean()).item()
    assert abs(share - 0.25) < 0.03


def test_the_same_generator_seed_gives_the_same_augmentation():
    digits = torch.stack([four(), four(open_top=False)] * 4)
    config = AugmentConfig(marker_prob=0.5)
    first = augment(digits, config, torch.Generator().manual_seed(7))
    again = augment(digits, config, torch.Generator().manual_seed(7))
    torch.testing.assert_close(first, again, atol=0, rtol=0)


def one(slant: int = 0) -> torch.Tensor:
    """A 1: a 2-px stroke 20 rows tall, leaning `slant` px to the right at its top."""
    image = torch.zeros(28, 28)
    for row in range(4, 24):
        col = 13 + round(slant * (23 - row) / 19)
        image[row, col : col + 2] = 1
    return image


def ink_box(image: torch.Tensor) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(image.numpy() > 0.5)
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_a_box_scan_stretches_the_digit_to_a_square_about_its_centre_one_bit_a_pixel():
    digits = torch.stack([one(slant=6), four()])
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "box_prob": 1.0})
    boxed = augment(digits, config, torch.Generator().manual_seed(0))
    assert set(boxed.unique().tolist()) <= {0.0, 1.0}  # one bit a pixel
    for before, after in zip(digits, boxed, strict=True):
        top, bottom, left, right = ink_box(after)
        assert (top, bottom) == ink_box(before)[:2]  # the taller side stays as it was
        assert abs((right - left) - (bottom - top)) <= 1  # the shorter one now matches it
        centre = (ink_box(before)[2] + ink_box(before)[3]) / 2
        assert abs((left + right) / 2 - centre) <= 1
    assert boxed[0].sum() > 2 * digits[0].sum()  # a leaning 1 becomes a wide band


def test_a_box_scan_of_a_blank_or_faint_digit_keeps_its_strokes():
    faint = 0.4 * one(slant=4)  # the augmentation's own thinning leaves ink at half strength
    digits = torch.stack([torch.zeros(28, 28), faint])
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "box_prob": 1.0})
    boxed = augment(digits, config, torch.Generator().manual_seed(0))
    assert boxed[0].sum() == 0 and torch.isfinite(boxed).all()
    assert boxed[1].sum() >= faint.gt(0).sum()  # thresholded on its own ink, not lost


def test_the_box_share_is_the_share_of_digits_stretched():
    digits = torch.stack([one(slant=6)] * 2000)
    config = AugmentConfig(**{**ONLY_MARKER.to_dict(), "box_prob": 0.1})
    boxed = augment(digits, config, torch.Generator().manual_seed(2))
    share = ((boxed.sum((1, 2)) > 2 * digits.sum((1, 2))).float().mean()).item()
    assert abs(share - 0.1) < 0.02


def test_the_validation_transforms_are_the_ones_training_applies_and_draw_no_random_numbers():
    leaning = one(slant=6)[None, None]
    boxed = box_stretch(leaning)
    assert torch.equal(boxed, box_stretch(leaning))  # no generator: the same every time
    assert boxed.sum() > 2 * leaning.sum()  # a leaning 1 becomes a wide band
    assert set(boxed.unique().tolist()) <= {0.0, 1.0}  # one bit a pixel
    always_box = AugmentConfig(**{**ONLY_MARKER.to_dict(), "box_prob": 1.0})
    trained = augment(leaning[0], always_box, torch.Generator().manual_seed(0))
    torch.testing.assert_close(trained[0], boxed[0, 0], atol=1e-5, rtol=0)
    fat = fat_marker(leaning)
    assert fat.sum() > 1.5 * leaning.sum() and torch.equal(fat, fat_marker(leaning))
