"""python -m export: what the exported file must be, and what a bad export must not do.

Two real exports (about 10 s each) are shared by the slow tests; the unhappy paths that stop
before exporting are quick.
"""

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export.onnx_export as onnx_export
import export.quantize as quantize
from bench.paths import REPO, SAMPLE
from demo.reader import DEFAULT_MODEL, INT8_MODEL
from demo.reader import Reader as Classifier
from export.__main__ import main
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


def machine_paths_in(path: Path) -> list[str]:
    """Absolute paths of this machine found in an .onnx, tensor payloads left out.

    Random weight bytes could spell '/usr' by chance; every string field is searched.
    """
    proto = onnx.load(str(path))
    tensors = [*proto.graph.initializer]
    tensors += [a.t for n in proto.graph.node for a in n.attribute if a.HasField("t")]
    for tensor in tensors:
        for payload in ("raw_data", "float_data", "int32_data", "int64_data", "double_data"):
            tensor.ClearField(payload)
    text = proto.SerializeToString()
    suspects = {"/work", "/usr", "/home/", "site-packages", str(REPO), sys.executable}
    suspects |= {sys.prefix, sys.base_prefix, tempfile.gettempdir()}
    if len(str(Path.home())) > 1:
        suspects.add(str(Path.home()))
    return sorted(s for s in suspects if s.encode() in text)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """One export through the CLI, parity on the repo's 1,000-digit sample given explicitly."""
    root = tmp_path_factory.mktemp("export")
    (root / "in").mkdir()
    (root / "out").mkdir()
    weights = make_weights(root / "in")
    output = root / "out" / "hrnn_mnist.onnx"
    code, stdout, stderr = run_main("--weights", weights, "--output", output, "--sample", SAMPLE)
    assert code == 0, stderr
    return {
        "root": root,
        "weights": weights,
        "output": output,
        "stdout": stdout,
        "stderr": stderr,
        "proto": onnx.load(str(output)),
    }


@pytest.fixture
def reexport(exported, monkeypatch):
    """main() without the 10 s exporter: it gets the graph the real export produced."""

    def fake(model, opset=None):
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
    assert "allowed: max|dp| 1e-05, max|dlogit| and max|drow| (row logits) 1e-04" in out
    assert "ok   mnist_test_sample.npz (1000 digits)" in out
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
def test_exporting_the_same_weights_twice_gives_the_same_bytes(exported):
    again = exported["root"] / "again"
    again.mkdir()
    output = again / "hrnn_mnist.onnx"
    code, _, stderr = run_main(
        "--weights", exported["weights"], "--output", output, "--sample", SAMPLE
    )
    assert code == 0, stderr
    assert output.read_bytes() == exported["output"].read_bytes()


@pytest.mark.slow
def test_quantizing_the_same_file_twice_gives_the_same_bytes(exported, tmp_path):
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    quantize.quantize_file(exported["output"], first)
    quantize.quantize_file(exported["output"], second)
    assert first.read_bytes() == second.read_bytes()
    assert machine_paths_in(first) == []


@pytest.mark.slow
def test_exported_file_names_no_path_of_this_machine(exported):
    assert machine_paths_in(exported["output"]) == []
    assert [p.key for p in exported["proto"].metadata_props] == ["model_card"]
    for node in exported["proto"].graph.node:
        assert not node.doc_string and not node.metadata_props, node.name


@pytest.mark.parametrize("shipped", [DEFAULT_MODEL, INT8_MODEL], ids=["float32", "int8"])
def test_shipped_files_name_no_path_of_the_machine_that_exported_them(shipped):
    if not shipped.exists():
        pytest.skip(f"{shipped.name} is not shipped")
    assert machine_paths_in(shipped) == []


def test_the_path_finder_itself_finds_a_path(tmp_path):
    """The check above can fail: a stack trace like the exporter's is caught."""
    proto = onnx.load(str(DEFAULT_MODEL))
    trace = f'File "{REPO}/train/model.py", line 75, in forward'
    proto.graph.node[0].metadata_props.add(key="pkg.torch.onnx.stack_trace", value=trace)
    path = tmp_path / "leaky.onnx"
    path.write_bytes(proto.SerializeToString())
    assert str(REPO) in machine_paths_in(path)
    onnx_export.strip_machine_details(proto)
    path.write_bytes(proto.SerializeToString())
    assert machine_paths_in(path) == []


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
        "--weights", reexport["weights"], "--output", output, "--sample", SAMPLE
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
        "--sample",
        SAMPLE,
        "--quantize",
    )
    assert code == 0
    assert "int8 model loses " in stdout
    assert "of accuracy: not written and removed the stale one" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrnn_mnist.onnx"]


@pytest.mark.slow
def test_int8_whose_probabilities_drift_too_far_is_not_kept(reexport, monkeypatch, tmp_path):
    monkeypatch.setattr(quantize, "MAX_P99_PROB_DIFF", -1.0)  # no drift is small enough
    output = tmp_path / "hrnn_mnist.onnx"
    args = ["--weights", reexport["weights"], "--output", output, "--sample", SAMPLE]
    code, stdout, _ = run_main(*args, "--quantize")
    assert code == 0
    assert "int8 model moves p99 probabilities by " in stdout and "not written" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrnn_mnist.onnx"]


@pytest.mark.slow
def test_int8_card_records_the_measured_confidence_drift(reexport, monkeypatch, tmp_path):
    monkeypatch.setattr(quantize, "EXACT_PROB_DIFF", -1.0)  # any drift makes it approximate
    output = tmp_path / "hrnn_mnist.onnx"
    args = ["--weights", reexport["weights"], "--output", output, "--sample", SAMPLE]
    results = tmp_path / "results" / "export.json"
    results.parent.mkdir()
    code, stdout, _ = run_main(*args, "--quantize", "--results", results)
    assert code == 0, stdout
    card = Classifier(tmp_path / "hrnn_mnist_int8.onnx").card.raw
    drift = card["confidence_drift"]
    assert card["approximate_confidence"] is True
    assert drift["digits"] == 1000 and drift["on"] == "mnist_test_sample.npz (1000 digits)"
    assert 0 <= drift["p99_abs_prob_diff"] <= drift["max_abs_prob_diff"] <= 1
    assert f"p99 {drift['p99_abs_prob_diff']:.4f}" in stdout
    assert f"max {drift['max_abs_prob_diff']:.4f} (card: approximate_confidence true)" in stdout
    assert "approximate_confidence" not in Classifier(output).card.raw  # float is exact
    measured = json.loads(results.read_text())  # the printed tables, for results/
    assert measured["command"].startswith("python -m export --weights ")
    assert [c["passed"] for c in measured["parity"]] == [True] * 7
    assert measured["parity"][0]["name"] == "mnist_test_sample.npz (1000 digits)"
    assert round(measured["int8"]["max_prob_diff"], 4) == drift["max_abs_prob_diff"]
    assert measured["int8"]["allowed"]["p99_prob_diff"] == quantize.MAX_P99_PROB_DIFF


@pytest.mark.slow
def test_calibrated_weights_ship_their_temperature_and_parity_applies_it(reexport, tmp_path):
    """The page divides logits by the card's temperature, warmed by stroke width; PyTorch's side
    of parity must too."""
    weights = tmp_path / "hrnn_mnist.pt"
    weights.write_bytes(reexport["weights"].read_bytes())
    training = json.loads(reexport["weights"].with_suffix(".json").read_text())
    training["calibration"] = {
        "temperature": 0.5,
        "wide_from": 2.5,  # most MNIST digits are wider: parity must warm them as the demo does
        "wide_power": 2.0,
        "sure_at": 0.6,
        "fitted_on": "validation",
    }
    weights.with_suffix(".json").write_text(json.dumps(training))
    output = tmp_path / "out.onnx"
    code, stdout, stderr = run_main("--weights", weights, "--output", output, "--sample", SAMPLE)
    assert code == 0, stdout + stderr
    card = Classifier(output).card
    assert card.raw["calibration"] == training["calibration"]
    assert (card.temperature, card.sure_at) == (0.5, 0.6)
    assert (card.wide_from, card.wide_power) == (2.5, 2.0)


@pytest.mark.slow
def test_missing_weights_card_warns_loudly_and_says_so_in_the_card(reexport, tmp_path):
    weights = tmp_path / "bare.pt"
    weights.write_bytes(reexport["weights"].read_bytes())
    output = tmp_path / "out.onnx"
    code, _, stderr = run_main("--weights", weights, "--output", output, "--sample", SAMPLE)
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


def test_parity_needs_digits_and_says_so_in_one_sentence(tmp_path):
    weights = make_weights(tmp_path)
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    output = tmp_path / "m.onnx"
    args = ["--weights", weights, "--output", output, "--data-dir", empty, "--offline"]
    code, _, stderr = run_main(*args)
    assert code == 1
    assert stderr.startswith("error: no MNIST training files for the validation digits (")
    assert stderr.endswith("or --sample PATH to an .npz\n") and stderr.count("\n") == 1
    assert not output.exists()


def test_a_sample_that_is_not_an_npz_of_digits(tmp_path):
    weights = make_weights(tmp_path)
    bad = tmp_path / "digits.npz"
    bad.write_bytes(b"not a zip")
    code, _, stderr = run_main(
        "--weights", weights, "--output", tmp_path / "m.onnx", "--sample", bad
    )
    assert code == 1
    assert stderr.startswith(f"error: {bad} is not an .npz with images and labels (")
    np.savez(bad, images=np.zeros((3, 28, 28), np.uint8), labels=np.zeros(2, np.uint8))
    code, _, stderr = run_main(
        "--weights", weights, "--output", tmp_path / "m.onnx", "--sample", bad
    )
    assert code == 1
    assert "holds images (3, 28, 28) and labels (2,); expected (N, 28, 28) and (N,)" in stderr
    assert not (tmp_path / "m.onnx").exists()


def test_help_shows_defaults_as_the_user_would_type_them(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "default: weights/hrnn_mnist.pt" in text and "default: demo/hrnn_mnist.onnx" in text
    assert str(REPO) not in text


def test_defaults_are_found_in_the_checkout_from_any_folder(monkeypatch, tmp_path):
    import export.__main__ as cli

    monkeypatch.chdir(tmp_path)
    args = cli.parse_args([])
    assert args.weights == REPO / "weights" / "hrnn_mnist.pt"
    assert args.output == REPO / "demo" / "hrnn_mnist.onnx"


def test_card_copies_calibration_and_training_data_from_the_weights_card():
    training = {
        "model_config": HRNNConfig().to_dict(),
        "test_accuracy": 0.99,
        "calibration": {"temperature": 0.8, "sure_at": 0.6, "fitted_on": "validation", "nll": 0.1},
        "training_data": [
            {"name": "MNIST", "licence": "CC BY-SA 3.0", "samples": 55000},
            {"name": "drawn", "licence": "CC0", "samples": 120},
        ],
    }
    exporter = {"method": "torch.onnx.export(dynamo=True)"}
    card = onnx_export.build_card(HRNN().eval(), training, "ab" * 32, exporter)
    # what was fitted, plus what the graph bakes in for what was not (no width warming)
    assert card["calibration"] == training["calibration"] | {"wide_from": 1.0, "wide_power": 0.0}
    assert card["training_data"] == training["training_data"]
    assert card["training"] == training and card["exporter"] == exporter
    everything_else = {"name", "format", "precision", "input", "outputs", "class_names"}
    assert set(card) == everything_else | {"training", "weights_sha256", "exporter"} | {
        "calibration",
        "training_data",
    }
    assert card["weights_sha256"] == "ab" * 32 and card["precision"] == "float32"


def test_card_without_calibration_bakes_in_the_identity_and_the_reader_accepts_it():
    for training in ({"test_accuracy": 0.99}, None):
        card = onnx_export.build_card(HRNN().eval(), training, "ab" * 32, {})
        assert card["calibration"] == onnx_export.UNCALIBRATED and "training_data" not in card
    from demo.reader import ModelCard

    read = ModelCard.from_json(json.dumps(card))
    assert (read.temperature, read.wide_power, read.sure_at) == (1.0, 0.0, 0.0)
