"""train.model: the HRNN of the Keras example, its shapes, its settings and its start."""

import pytest
import torch
from train_support import one_thread

from train.model import HRNN, HRNNConfig

TINY = HRNNConfig(row_hidden=8, col_hidden=6)


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    with one_thread():
        yield


@pytest.fixture
def model() -> HRNN:
    torch.manual_seed(0)
    return HRNN(TINY).eval()


def test_logits_have_one_row_per_image(model):
    images = torch.rand(3, 28, 28)
    assert model(images).shape == (3, 10)
    logits, row_logits = model(images, per_row=True)
    assert logits.shape == (3, 10) and row_logits.shape == (3, 28, 10)


def test_the_last_row_logits_are_the_logits(model):
    images = torch.rand(4, 28, 28)
    with torch.no_grad():
        plain = model(images)
        logits, row_logits = model(images, per_row=True)
    torch.testing.assert_close(row_logits[:, -1], logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(logits, plain, rtol=0, atol=1e-6)
    # ...and the earlier rows really are earlier beliefs, not copies of the last.
    assert not torch.allclose(row_logits[:, 0], row_logits[:, -1])


def test_an_image_is_classified_independently_of_its_batch(model):
    images = torch.rand(5, 28, 28)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(image[None]) for image in images])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_row_k_logits_depend_only_on_rows_up_to_k(model):
    images = torch.rand(2, 28, 28)
    changed = images.clone()
    changed[:, 20:] = 0  # rows 21..28 differ
    with torch.no_grad():
        _, before = model(images, per_row=True)
        _, after = model(changed, per_row=True)
    torch.testing.assert_close(before[:, :20], after[:, :20], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 20:], after[:, 20:])


def test_config_round_trips_through_a_dict():
    assert HRNNConfig.from_dict(TINY.to_dict()) == TINY
    assert TINY.to_dict() == {"image_size": 28, "row_hidden": 8, "col_hidden": 6, "num_classes": 10}
    assert HRNNConfig.from_dict({}) == HRNNConfig()  # missing settings are the defaults


def test_unknown_config_keys_are_rejected_by_name():
    with pytest.raises(ValueError, match=r"unknown model settings \['hidden'\]"):
        HRNNConfig.from_dict({"row_hidden": 8, "hidden": 8})


def test_default_model_is_the_keras_example_size():
    # Keras: 66,560 + 131,584 + 1,290 = 199,434; PyTorch's LSTM has a second bias vector
    # per layer (4 x 128 more each).
    assert sum(p.numel() for p in HRNN().parameters()) == 199_434 + 2 * 4 * 128


def test_keras_style_initialisation():
    torch.manual_seed(1)
    model = HRNN(HRNNConfig(row_hidden=16, col_hidden=12))
    for lstm in (model.row_encoder, model.col_encoder):
        hidden = lstm.hidden_size
        expected_bias = torch.zeros(4 * hidden)
        expected_bias[hidden : 2 * hidden] = 1.0  # forget gate (order i, f, g, o)
        torch.testing.assert_close(lstm.bias_ih_l0.detach(), expected_bias, rtol=0, atol=0)
        torch.testing.assert_close(lstm.bias_hh_l0.detach(), torch.zeros(4 * hidden))
        # Keras orthogonalises the whole (h, 4h) kernel: PyTorch's (4h, h) transpose has
        # orthonormal columns, so each gate's block carries a quarter of the norm, not all of it.
        recurrent = lstm.weight_hh_l0.detach()
        torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(hidden), rtol=0, atol=1e-5)
        for gate in recurrent.view(4, hidden, hidden):
            assert not torch.allclose(gate @ gate.T, torch.eye(hidden), atol=0.1)
        fan_out, fan_in = lstm.weight_ih_l0.shape
        glorot = (6 / (fan_in + fan_out)) ** 0.5
        assert lstm.weight_ih_l0.abs().max() <= glorot
        assert lstm.weight_ih_l0.abs().max() > glorot / 2  # not zeros or a tiny normal
    assert torch.count_nonzero(model.head.bias) == 0


def test_the_same_seed_gives_the_same_model():
    torch.manual_seed(7)
    first = HRNN(TINY).state_dict()
    torch.manual_seed(7)
    second = HRNN(TINY).state_dict()
    torch.manual_seed(8)
    third = HRNN(TINY).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], third[k]) for k in first)
