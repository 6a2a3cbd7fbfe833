"""python -m export: what the exported reader file must be, and what a bad export must not do.

The file is the reader graph: ink planes (N, H, W), 0 paper to 1 ink, of any size in; calibrated
probabilities, the belief after every row, the 28x28 read, the logits, the stroke width, whether
there was ink and how much of the plane is ink out; the card inside says so, and the weights
card's calibration is baked into the graph.

Two real exports through the CLI are shared by the slow tests: an uncalibrated one with the
full parity check and a calibrated one. The other tests of what main() does with a graph get
the first one's graph in place of the exporter; they and the calibrated export check parity on
fewer digits and drawings (the int8 gates still read every digit). The unhappy paths that stop
before exporting are quick.
"""

import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export.onnx_export as onnx_export
import export.parity as parity
import export.quantize as quantize
from bench.paths import REPO, SAMPLE, WEIGHTS
from demo.reader import CARD_FORMAT, DEFAULT_MODEL, INT8_MODEL, OUTPUT_NAMES
from demo.reader import Reader as Classifier
from export import reference
from export.__main__ import main
from train import pendigits
from train.checkpoint import load_weights, save_weights, sha256_file
from train.data import DataError, validation_split
from train.model import HRNN, HRNNConfig

SAMPLE_SOURCE = "mnist_test_sample.npz (1000 digits)"  # how the CLI names --sample SAMPLE
FEWER_DIGITS, FEWER_DRAWINGS = 200, 40  # parity's sets, where the full check is not the point
# Warmer than no calibration; many MNIST digits are read wider than wide_from, so the graph
# warms them further, the thinner ones it does not.
CALIBRATION = {
    "temperature": 2.0,
    "wide_from": 2.5,
    "wide_power": 2.0,
    "sure_at": 0.6,
    "fitted_on": "validation",
}


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


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def run_graph(session, planes: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of one session.run on the whole batch (demo.reader.Reader.run chunks)."""
    return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), {"ink": planes}), strict=True))


def has_pendigits() -> bool:
    """Whether parity can render pen strokes here (it notes their absence otherwise)."""
    try:
        pendigits.find_file()
    except DataError:
        return False
    return True


def parity_rows(stdout: str) -> list[tuple[str, str, str, int]]:
    """(verdict, set, against, count) of each row of the parity table the CLI printed."""
    row = re.compile(r"^  (ok  |FAIL) (.+?)\s+vs (\w+)\s+n=(\d+)")
    found = [row.match(line) for line in stdout.splitlines()]
    return [(m[1].strip(), m[2], m[3], int(m[4])) for m in found if m]


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


def check_fewer(patch: pytest.MonkeyPatch) -> None:
    """Parity on FEWER_DIGITS of the sample and FEWER_DRAWINGS drawings and pen renders."""
    patch.setattr(parity, "PARITY_DIGITS", FEWER_DIGITS)
    patch.setattr(parity, "DRAWINGS", FEWER_DRAWINGS)


def export_through_cli(root: Path, weights: Path) -> dict:
    """One export through the CLI, parity on the repo's 1,000-digit sample given explicitly."""
    output = root / "out" / "hrnn_mnist.onnx"
    output.parent.mkdir()
    code, stdout, stderr = run_main("--weights", weights, "--output", output, "--sample", SAMPLE)
    assert code == 0, stdout + stderr
    return {
        "root": root,
        "weights": weights,
        "output": output,
        "stdout": stdout,
        "stderr": stderr,
        "proto": onnx.load(str(output)),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """Untrained weights whose card has no calibration: the graph bakes in the identity."""
    root = tmp_path_factory.mktemp("export")
    (root / "in").mkdir()
    return export_through_cli(root, make_weights(root / "in"))


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> dict:
    """The shipped trained weights, their card carrying CALIBRATION (an untrained model's
    logits are too alike for any temperature to show in its probabilities)."""
    root = tmp_path_factory.mktemp("calibrated")
    weights = root / "hrnn_mnist.pt"
    weights.write_bytes(WEIGHTS.read_bytes())
    training = json.loads(WEIGHTS.with_suffix(".json").read_text())
    weights.with_suffix(".json").write_text(json.dumps(training | {"calibration": CALIBRATION}))
    with pytest.MonkeyPatch.context() as patch:
        check_fewer(patch)
        return export_through_cli(root, weights)


@pytest.fixture(scope="module")
def sample_ink() -> tuple[np.ndarray, np.ndarray]:
    """The first 200 sample digits as ink planes (pixels / 255), and their labels."""
    with np.load(SAMPLE) as sample:
        return sample["images"][:200] / np.float32(255), sample["labels"][:200].astype(np.int64)


@pytest.fixture
def reexport(exported, monkeypatch):
    """main() without the exporter: it gets the graph the real export produced.

    That graph has the identity calibration baked in, so it stands in only for weights whose
    card has none.
    """

    def fake(model, card, opset=None):
        assert card["calibration"] == onnx_export.UNCALIBRATED, "the fake graph is uncalibrated"
        proto = onnx.ModelProto()
        proto.CopyFrom(exported["proto"])
        return proto, onnx_export.read_card(exported["proto"])["exporter"]

    monkeypatch.setattr(onnx_export, "export_proto", fake)
    check_fewer(monkeypatch)
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
def test_batch_height_and_width_are_symbolic_and_really_dynamic(exported, sample_ink):
    graph = exported["proto"].graph
    assert [value.name for value in graph.input] == ["ink"]
    for value in [*graph.input, *graph.output]:
        first = value.type.tensor_type.shape.dim[0]
        assert first.dim_param and not first.dim_value, value.name
    for side in graph.input[0].type.tensor_type.shape.dim[1:]:
        assert side.dim_param and not side.dim_value
    session = Classifier(exported["output"]).session  # one run per shape, no chunking
    shapes = onnx_export.output_shapes(HRNNConfig())
    digit = sample_ink[0][0]
    alone = run_graph(session, digit[None])
    for batch, height, width in ((1, 28, 28), (7, 41, 53), (3, 280, 280), (64, 30, 90)):
        planes = np.zeros((batch, height, width), np.float32)
        for k, plane in enumerate(planes):  # the same digit, somewhere else on each plane
            top, left = k % (height - 27), (3 * k) % (width - 27)
            plane[top : top + 28, left : left + 28] = digit
        out = run_graph(session, planes)
        for name, dims in shapes.items():
            assert list(out[name].shape) == [batch if d == "batch" else d for d in dims], name
        assert out["ink_found"].all()
        np.testing.assert_allclose(out["ink_share"], digit.sum() / (height * width), rtol=1e-4)
        for name in ("probabilities", "logits", "image", "stroke_width"):
            expected = np.broadcast_to(alone[name], out[name].shape)
            np.testing.assert_allclose(out[name], expected, atol=1e-3, err_msg=name)


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
    assert card["format"] == CARD_FORMAT == "hrnn-mnist-card/2"
    assert card["precision"] == "float32"
    assert card["training"] == json.loads(weights.with_suffix(".json").read_text())
    assert card["weights_sha256"] == sha256_file(weights)
    opset = next(o.version for o in proto.opset_import if o.domain == "")
    assert card["exporter"]["opset"] == opset >= 18
    assert card["exporter"]["torch"] == torch.__version__
    assert card["exporter"]["onnx"] == onnx.__version__
    assert card["exporter"]["method"] == "torch.onnx.export(dynamo=True)"
    ink = card["input"]
    assert ink.pop("ink").startswith("0 = paper, 1 = ink")
    assert ink == {
        "name": "ink",
        "shape": ["batch", "height", "width"],
        "dtype": "float32",
        "image_size": 28,
        "digit_box": 20,
        "pixel_scale": 255.0,
    }
    assert card["normalisation"] == reference.NORMALISATION
    assert card["class_names"] == [str(k) for k in range(10)]
    assert card["calibration"] == onnx_export.UNCALIBRATED  # the weights card fitted none


@pytest.mark.slow
def test_card_names_the_outputs_the_graph_has(exported):
    card = onnx_export.read_card(exported["proto"])
    assert [value.name for value in exported["proto"].graph.output] == list(OUTPUT_NAMES)
    assert set(card["outputs"]) == set(OUTPUT_NAMES)
    assert card["outputs"] == onnx_export.output_shapes(HRNNConfig())
    for value in exported["proto"].graph.output:  # symbolic where the card says "batch"
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        promised = card["outputs"][value.name]
        assert [isinstance(d, str) for d in dims] == [d == "batch" for d in promised]
        assert [d for d in dims if isinstance(d, int)] == [d for d in promised if d != "batch"]
    assert set(card["meaning"]) <= set(card["outputs"])
    assert card["meaning"]["ink_found"] == onnx_export.BLANK


@pytest.mark.slow
def test_cli_reports_parity_of_the_reader_against_torch_and_numpy(exported):
    out = exported["stdout"]
    assert "parity, torch module and numpy reference vs demo.reader.Reader" in out
    assert (
        "allowed: top class agree >= 99.9%, ink_found agree 100%, "
        "max|dp| 1e-03 (torch module) / 0.05 (numpy)"
    ) in out
    sets = [
        (f"{SAMPLE_SOURCE}: 1000 as ink = pixels / 255", 1000),
        ("400 of them drawn on a 280 px canvas", 400),
    ]
    if has_pendigits():
        sets.append(("400 pen digits rendered at 280 px", 400))
    else:
        assert "note: pen renders left out: no pendigits file" in out
    sets.append(("blank, faint and a dot", 4))
    expected = [("ok", name, against, n) for name, n in sets for against in ("torch", "numpy")]
    assert parity_rows(out) == expected
    assert out.count("acc ref ") == 2 * (len(sets) - 1)  # every set but the blanks has labels
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
def test_exporting_the_same_weights_twice_gives_the_same_bytes(exported, monkeypatch):
    check_fewer(monkeypatch)  # the bytes are the point, not the parity check
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
    drifted[3] += np.float32(0.5)  # one class: a shift of all logits would not change p
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
    assert f"on {SAMPLE_SOURCE}" in stdout  # the gate read every digit given, not parity's few
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
    assert card["precision"] == "int8" and card["calibration"] == onnx_export.UNCALIBRATED
    assert drift["digits"] == 1000 and drift["on"] == SAMPLE_SOURCE  # all of them, not parity's
    assert drift["vs"] == "float32 reader, both through demo.reader.Reader"
    assert 0 <= drift["p99_abs_prob_diff"] <= drift["max_abs_prob_diff"] <= 1
    assert f"p99 {drift['p99_abs_prob_diff']:.4f}" in stdout
    assert f"max {drift['max_abs_prob_diff']:.4f} (card: approximate_confidence true)" in stdout
    assert "approximate_confidence" not in Classifier(output).card.raw  # float is exact
    measured = json.loads(results.read_text())  # the printed tables, for results/
    assert measured["command"].startswith("python -m export --weights ")
    sets = 4 if has_pendigits() else 3  # MNIST as ink, drawn, pen renders, blanks
    assert [c["passed"] for c in measured["parity"]] == [True] * (2 * sets)
    assert [c["against"] for c in measured["parity"][:2]] == ["torch", "numpy"]
    name = f"{SAMPLE_SOURCE}: {FEWER_DIGITS} as ink = pixels / 255"
    assert measured["parity"][0]["name"] == name
    assert measured["parity"][2]["count"] == FEWER_DRAWINGS
    assert round(measured["int8"]["max_prob_diff"], 4) == drift["max_abs_prob_diff"]
    assert measured["int8"]["allowed"]["p99_prob_diff"] == quantize.MAX_P99_PROB_DIFF


@pytest.mark.slow
def test_calibrated_weights_ship_their_temperature_and_parity_applies_it(calibrated, sample_ink):
    rows = parity_rows(calibrated["stdout"])
    assert len(rows) >= 6 and {verdict for verdict, *_ in rows} == {"ok"}
    reader = Classifier(calibrated["output"])
    card = reader.card
    ink = sample_ink[0][:50]
    ours = reader.run(ink)["probabilities"]
    model = load_weights(calibrated["weights"])
    cold = card.raw | {"calibration": onnx_export.UNCALIBRATED}
    for side, allowed in (
        (parity.module_outputs, parity.MAX_GRAPH_PROB_DIFF),
        (parity.reference_outputs, parity.MAX_REFERENCE_PROB_DIFF),
    ):  # both references warm as the card says; one that did not would differ
        assert np.abs(side(model, ink, card.raw)["probabilities"] - ours).max() <= allowed
        assert np.abs(side(model, ink, cold)["probabilities"] - ours).max() > 1e-3
    assert card.raw["calibration"] == CALIBRATION
    assert (card.temperature, card.sure_at) == (2.0, 0.6)
    assert (card.wide_from, card.wide_power) == (2.5, 2.0)
    training = json.loads(calibrated["weights"].with_suffix(".json").read_text())
    assert card.raw["training"] == training


@pytest.mark.slow
def test_the_calibration_is_baked_into_the_graph(calibrated, sample_ink):
    """The file's probabilities are softmax(logits / T) of its own logits, T the card's
    temperature, warmed only for strokes wider than wide_from: flatter than softmax(logits)."""
    ink, _ = sample_ink
    reader = Classifier(calibrated["output"])
    out, card = reader.run(ink), reader.card
    assert out["ink_found"].all()
    width = out["stroke_width"]
    blank_width = width <= card.wide_from  # no warming: T is the card's temperature
    assert blank_width.any() and (~blank_width).any()
    np.testing.assert_allclose(
        out["probabilities"][blank_width],
        softmax(out["logits"][blank_width] / card.temperature),
        atol=1e-5,
    )
    warmth = card.temperature * np.maximum(1.0, width / card.wide_from) ** card.wide_power
    assert (warmth[~blank_width] > card.temperature).all()
    np.testing.assert_allclose(
        out["probabilities"], softmax(out["logits"] / warmth[:, None]), atol=1e-5
    )
    np.testing.assert_allclose(
        out["row_probabilities"], softmax(out["row_logits"] / warmth[:, None, None]), atol=1e-5
    )
    uncalibrated = softmax(out["logits"]).max(-1)
    assert (out["probabilities"].max(-1) <= uncalibrated + 1e-6).all()
    assert (out["probabilities"].max(-1) < uncalibrated - 1e-3).mean() > 0.5


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
    assert card["calibration"] == onnx_export.UNCALIBRATED  # nothing fitted, nothing baked in


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


def test_the_gates_read_the_validation_split_never_the_test_split(monkeypatch, tmp_path):
    asked = []
    images = np.arange(6000 * 28 * 28, dtype=np.uint32).reshape(6000, 28, 28).astype(np.uint8)
    labels = np.arange(6000) % 10

    def load_split(split, data_dir=None, download=True):
        asked.append((split, data_dir, download))
        return images, labels

    monkeypatch.setattr(quantize, "load_split", load_split)
    got, got_labels, source = quantize.validation_digits(tmp_path, None, download=False)
    assert asked == [("train", tmp_path, False)]
    index, _ = validation_split(6000, quantize.VALIDATION_SIZE)
    np.testing.assert_array_equal(got, images[index])
    np.testing.assert_array_equal(got_labels, labels[index])
    assert source == f"MNIST validation split ({quantize.VALIDATION_SIZE} digits)"


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
    everything_else |= {"meaning", "normalisation"}
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
