"""python -m export: what the exported file must be, and what a bad export must not do.

One real export (about 10 s) is shared by the slow tests; the unhappy paths that stop
before exporting are quick.
"""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export.onnx_export as onnx_export
import export.quantize as quantize
from demo.classifier import Classifier
from export.__main__ import main
from tools.paths import REPO
from train.checkpoint import save_weights, sha256_file
from train.model import HRNN, HRNNConfig


def make_weights(folder: Path, config: HRNNConfig | None = None, card: bool = True) -> Path:
    """A seeded, untrained HRNN and, like training writes, its card beside it."""
    config = config or HRNNConfig()
    torch.manual_seed(0)
    path = folder / "hrnn_mnist.pt"
    save_weights(HRNN(config).eval(), path)
    if card:
        training = {"model_config": config.to_dict(), "test_accuracy": 0.1, "epochs": 0}
        training["weights_sha256"] = sha256_file(path)
        path.with_suffix(".json").write_text(json.dumps(training))
    return path


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """One export through the CLI, parity on the repo's 1,000-digit sample."""
    root = tmp_path_factory.mktemp("export")
    (root / "in").mkdir()
    (root / "out").mkdir()
    (root / "no-mnist").mkdir()
    weights = make_weights(root / "in")
    output = root / "out" / "hrnn_mnist.onnx"
    code, stdout, stderr = run_main(
        "--weights", weights, "--output", output, "--data-dir", root / "no-mnist"
    )
    assert code == 0, stderr
    return {
        "weights": weights,
        "output": output,
        "stdout": stdout,
        "stderr": stderr,
        "proto": onnx.load(str(output)),
        "data_dir": root / "no-mnist",
    }


@pytest.fixture
def reexport(exported, monkeypatch):
    """main() without the 10 s exporter: it gets the graph the real export produced."""

    def fake(model, opset=None, dynamo=True):
        card = onnx_export.read_card(exported["proto"])
        proto = onnx.ModelProto()
        proto.CopyFrom(exported["proto"])
        return proto, card["exporter"]

    monkeypatch.setattr(onnx_export, "export_proto", fake)
    return exported


# --- the exported file --------------------------------------------------------------------


@pytest.mark.slow
def test_export_is_one_self_contained_file(exported):
    assert sorted(p.name for p in exported["output"].parent.iterdir()) == ["hrnn_mnist.onnx"]
    for tensor in exported["proto"].graph.initializer:
        assert tensor.data_location == onnx.TensorProto.DEFAULT, tensor.name
    assert exported["output"].stat().st_size < 10_000_000
    assert exported["output"].stat().st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_checker_passes_with_full_shape_inference(exported):
    onnx.checker.check_model(exported["proto"], full_check=True)


@pytest.mark.slow
def test_batch_axis_is_symbolic_and_really_dynamic(exported):
    graph = exported["proto"].graph
    for value in [*graph.input, *graph.output]:
        first = value.type.tensor_type.shape.dim[0]
        assert first.dim_param and not first.dim_value, value.name
    session = Classifier(exported["output"]).session  # one run per batch, no chunking
    for batch in (1, 7, 64):
        logits, rows = session.run(None, {"image": np.zeros((batch, 28, 28), np.float32)})
        assert logits.shape == (batch, 10)
        assert rows.shape == (batch, 28, 10)


@pytest.mark.slow
def test_both_encoders_are_onnx_lstm_ops(exported):
    kinds = [node.op_type for node in exported["proto"].graph.node]
    assert kinds.count("LSTM") == 2
    assert not {"Loop", "Scan", "If"} & set(kinds)


@pytest.mark.slow
def test_card_round_trips_with_training_card_and_versions(exported):
    proto, weights = exported["proto"], exported["weights"]
    card = onnx_export.read_card(proto)
    assert card == Classifier(exported["output"]).card.raw
    assert card["format"] == "hrnn-mnist-card/1"
    assert card["precision"] == "float32"
    assert card["training"] == json.loads(weights.with_suffix(".json").read_text())
    assert card["weights_sha256"] == sha256_file(weights)
    opset = next(o.version for o in proto.opset_import if o.domain == "")
    assert card["exporter"]["opset"] == opset >= 18
    assert card["exporter"]["torch"] == torch.__version__
    assert card["exporter"]["onnx"] == onnx.__version__
    assert card["exporter"]["method"] == "torch.onnx.export(dynamo=True)"
    assert card["input"] | {"shape": None} == {
        "name": "image",
        "shape": None,
        "dtype": "float32",
        "image_size": 28,
        "digit_box": 20,
        "pixel_scale": 255.0,
        "ink": "white-on-black",
    }


@pytest.mark.slow
def test_cli_reports_parity_through_the_classifier(exported):
    out = exported["stdout"]
    assert "parity, PyTorch vs demo.classifier.Classifier" in out
    assert "mnist_test_sample.npz (1000 digits; full MNIST not found)" in out
    for batch in (1, 7, 64):
        assert f"random pixels, batch {batch}" in out
        assert f"same, one session.run of {batch}" in out
    assert "FAIL" not in out
    assert exported["stderr"] == ""  # a card was present: no warning


@pytest.mark.slow
def test_int8_has_dynamic_quantized_lstms_and_an_int8_card(exported, tmp_path):
    int8 = tmp_path / "int8.onnx"
    quantize.quantize_file(exported["output"], int8)
    kinds = [node.op_type for node in onnx.load(str(int8)).graph.node]
    assert kinds.count("DynamicQuantizeLSTM") == 2
    assert "LSTM" not in kinds
    card = Classifier(int8).card
    assert card.precision == "int8"
    assert card.raw["weights_sha256"] == sha256_file(exported["weights"])
    assert int8.stat().st_size < exported["output"].stat().st_size / 3


@pytest.mark.slow
def test_torchscript_fallback_also_meets_the_graph_checks():
    proto, exporter = onnx_export.export_proto(HRNN().eval(), dynamo=False)
    onnx_export.check_proto(proto, HRNNConfig())
    assert "TorchScript" in exporter["method"]


# --- failures leave the shipped files alone -----------------------------------------------


@pytest.mark.slow
def test_failed_parity_leaves_the_old_model_untouched(reexport, monkeypatch, tmp_path):
    proto = onnx.ModelProto()
    proto.CopyFrom(reexport["proto"])
    exporter = onnx_export.read_card(proto)["exporter"]
    bias = next(t for t in proto.graph.initializer if t.name.endswith("head.bias"))
    drifted = onnx.numpy_helper.to_array(bias).copy()
    drifted[3] += np.float32(1e-3)  # one class: a shift of all logits would not change p
    bias.CopyFrom(onnx.numpy_helper.from_array(drifted, bias.name))
    monkeypatch.setattr(onnx_export, "export_proto", lambda *a, **k: (proto, exporter))
    output = tmp_path / "hrnn_mnist.onnx"
    output.write_bytes(b"the good model")
    code, stdout, stderr = run_main(
        "--weights", reexport["weights"], "--output", output, "--data-dir", reexport["data_dir"]
    )
    assert code == 1, stdout
    assert "FAIL" in stdout
    assert stderr == f"error: parity check failed, so {output} was left unchanged\n"
    assert output.read_bytes() == b"the good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrnn_mnist.onnx"]


@pytest.mark.slow
def test_int8_that_loses_accuracy_is_not_kept(reexport, monkeypatch, tmp_path):
    monkeypatch.setattr(quantize, "MAX_ACCURACY_DROP", -1.0)  # nothing can qualify
    output = tmp_path / "hrnn_mnist.onnx"
    stale = tmp_path / "hrnn_mnist_int8.onnx"
    stale.write_bytes(b"int8 from older weights")
    code, stdout, _ = run_main(
        "--weights",
        reexport["weights"],
        "--output",
        output,
        "--data-dir",
        reexport["data_dir"],
        "--quantize",
    )
    assert code == 0
    assert "not written and removed the stale one" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrnn_mnist.onnx"]


@pytest.mark.slow
def test_missing_weights_card_warns_loudly_and_says_so_in_the_card(reexport, tmp_path):
    weights = tmp_path / "bare.pt"
    weights.write_bytes(reexport["weights"].read_bytes())
    output = tmp_path / "out.onnx"
    code, _, stderr = run_main(
        "--weights", weights, "--output", output, "--data-dir", reexport["data_dir"]
    )
    assert code == 0
    assert stderr.startswith("WARNING: no weights card")
    card = Classifier(output).card.raw
    assert card["training"] == {"note": "no weights card found"}
    assert card["weights_sha256"] == sha256_file(weights)


# --- bad input: one sentence, exit 1, nothing written (quick: they stop before exporting) --


def test_output_folder_must_exist(tmp_path):
    weights = make_weights(tmp_path)
    code, _, stderr = run_main("--weights", weights, "--output", tmp_path / "no" / "m.onnx")
    assert code == 1
    assert stderr.startswith("error: cannot write") and "does not exist" in stderr
    assert not (tmp_path / "no").exists()


def test_missing_weights_file(tmp_path):
    code, _, stderr = run_main("--weights", tmp_path / "nope.pt", "--output", tmp_path / "m.onnx")
    assert code == 1
    assert stderr == f"error: weights file {tmp_path / 'nope.pt'} does not exist\n"
    assert list(tmp_path.iterdir()) == []


def test_weights_whose_sizes_differ_from_their_card(tmp_path):
    weights = make_weights(tmp_path, HRNNConfig(row_hidden=16, col_hidden=16), card=False)
    card = {"model_config": HRNNConfig().to_dict(), "weights_sha256": sha256_file(weights)}
    weights.with_suffix(".json").write_text(json.dumps(card))
    code, _, stderr = run_main("--weights", weights, "--output", tmp_path / "m.onnx")
    assert code == 1
    assert "'row_hidden': 16" in stderr and "'row_hidden': 128" in stderr
    assert not (tmp_path / "m.onnx").exists()


def test_card_that_describes_other_weights(tmp_path):
    weights = make_weights(tmp_path)
    card = json.loads(weights.with_suffix(".json").read_text()) | {"weights_sha256": "ab" * 32}
    weights.with_suffix(".json").write_text(json.dumps(card))
    code, _, stderr = run_main("--weights", weights, "--output", tmp_path / "m.onnx")
    assert code == 1
    assert "describes other weights" in stderr
    assert not (tmp_path / "m.onnx").exists()


def test_foreign_checkpoint_via_the_real_command(tmp_path):
    """A torch file that is not ours: exit 1, one line on stderr, no traceback, no file."""
    foreign = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3)}, foreign)
    output = tmp_path / "hrnn_mnist.onnx"
    output.write_bytes(b"the good model")
    result = subprocess.run(
        [sys.executable, "-m", "export", "--weights", str(foreign), "--output", str(output)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1
    assert (
        result.stderr == f"error: {foreign} is a PyTorch file, but not an hrnn-mnist weights file\n"
    )
    assert output.read_bytes() == b"the good model"


def test_output_must_be_an_onnx_file(tmp_path):
    weights = make_weights(tmp_path)
    code, _, stderr = run_main("--weights", weights, "--output", tmp_path / "model.bin")
    assert code == 1
    assert "must end in .onnx" in stderr
