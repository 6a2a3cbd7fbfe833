"""python -m bench.export_benchmark: how fast the shipped .onnx answers, against PyTorch eager.

Latency is one image on one thread (what one request on the demo costs); throughput is
batches of 256 on two threads. Float and int8 (and PyTorch) are measured in alternating
rounds so that a busy neighbour slows all of them alike, and percentiles come from
thousands of runs. Prints a table and writes results/export_benchmark.json.
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from bench.paths import REPO, SAMPLE, WEIGHTS
from demo.reader import DEFAULT_MODEL, INT8_MODEL, Reader
from export.quantize import probabilities_of
from train.checkpoint import atomic_write_json, load_weights
from train.model import HRNNConfig

DEFAULT_WEIGHTS = WEIGHTS
DEFAULT_RESULTS = REPO / "results" / "export_benchmark.json"
TARGET_P50_MS = {"float32": 0.8, "int8": 0.5}
LATENCY_RUNS = 3000  # per runtime, split into ROUNDS alternating rounds
THROUGHPUT_RUNS = 15
ROUNDS = 10
BATCH = 256


def model_flops(config: HRNNConfig) -> int:
    """Multiply-adds x 2 for one image: the row LSTM's 28x28 recurrent steps dominate."""
    rows, h_row, h_col = config.image_size, config.row_hidden, config.col_hidden
    row_lstm = rows * rows * 4 * h_row * (1 + h_row)  # 28 rows of 28 pixels each
    col_lstm = rows * 4 * h_col * (h_row + h_col)
    head = rows * h_col * config.num_classes
    return 2 * (row_lstm + col_lstm + head)


def shown(path: Path) -> str:
    """A checkout path as the user would type it from the checkout: demo/hrnn_mnist.onnx."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarise(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "min_ms": round(float(ms.min()), 4),
        "runs": len(ms),
    }


def time_calls(call, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def alternate(calls: dict, runs: int, warmup: int = 20) -> dict[str, list[float]]:
    """Each call `runs` times, interleaved in ROUNDS rounds, after a warm-up."""
    for call in calls.values():
        time_calls(call, warmup)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            times[name] += time_calls(call, max(1, runs // ROUNDS))
    return times


def onnx_calls(paths: dict[str, Path], images: np.ndarray, threads: int) -> dict:
    """Two views per model: the bare session.run, and the demo's Reader.run."""
    calls = {}
    ink = images.astype(np.float32) / np.float32(255)
    for name, path in paths.items():
        reader = Reader(path, threads=threads)
        feed = {reader.card.input_name: ink}
        session = reader.session
        calls[f"onnxruntime {name}"] = lambda s=session, f=feed: s.run(None, f)
        calls[f"Reader.run {name}"] = lambda r=reader: r.run(ink)
    return calls


def two_workers(paths: dict[str, Path], images: np.ndarray) -> dict:
    """The other way to use 2 cores: one 1-thread session, two run() calls at a time."""
    calls = {}
    ink = images.astype(np.float32) / np.float32(255)
    for name, path in paths.items():
        reader = Reader(path, threads=1)
        calls[f"2 x run, 1 thread {name}"] = lambda r=reader: probabilities_of(r, ink, 2)
    return calls


def torch_call(weights: Path, images: np.ndarray):
    model = load_weights(weights)
    pixels = torch.from_numpy(images.astype(np.float32) / 255)

    def call() -> None:
        with torch.inference_mode():
            model(pixels, per_row=True)

    return call


def optimisation_calls(path: Path, images: np.ndarray) -> dict:
    """float32 at each graph optimisation level, and pre-optimised offline then loaded as is."""
    levels = ort.GraphOptimizationLevel
    feed = {"ink": images.astype(np.float32) / 255}
    calls = {}

    def session(level, model: Path, save_to: Path | None = None) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.graph_optimization_level = level
        options.log_severity_level = 3  # saving says it is for this machine only: known
        if save_to is not None:
            options.optimized_model_filepath = str(save_to)
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED", "ORT_ENABLE_ALL"):
        opened = session(getattr(levels, level), path)
        calls[level] = lambda s=opened: s.run(None, feed)
    with tempfile.TemporaryDirectory() as scratch:
        offline = Path(scratch) / "optimised.onnx"
        session(levels.ORT_ENABLE_ALL, path, save_to=offline)
        loaded = session(levels.ORT_DISABLE_ALL, offline)
    calls["offline ORT_ENABLE_ALL, loaded as is"] = lambda: loaded.run(None, feed)
    return calls


def session_load_ms(path: Path) -> float:
    start = time.perf_counter()
    Reader(path)
    return round((time.perf_counter() - start) * 1e3, 1)


def run(args: argparse.Namespace) -> dict:
    with np.load(SAMPLE) as sample:
        digits = sample["images"]
    paths = {"float32": args.model}
    if args.int8.exists():
        paths["int8"] = args.int8
    flops = model_flops(load_weights(args.weights).config)
    load_before = os.getloadavg()

    torch.set_num_threads(1)
    one = digits[:1]
    calls = onnx_calls(paths, one, threads=1) | {
        "pytorch eager float32": torch_call(args.weights, one)
    }
    latency = {name: summarise(t) for name, t in alternate(calls, args.runs).items()}

    sweep = alternate(optimisation_calls(args.model, one), args.runs // 3)
    levels = {name: summarise(t) for name, t in sweep.items()}

    torch.set_num_threads(2)
    batch = digits[:BATCH]
    calls = onnx_calls(paths, batch, threads=2) | two_workers(paths, batch)
    calls["pytorch eager float32"] = torch_call(args.weights, batch)
    throughput = {}
    for name, times in alternate(calls, THROUGHPUT_RUNS, warmup=3).items():
        median = float(np.median(times))
        throughput[name] = {
            "images_per_s": round(BATCH / median, 1),
            "ms_per_batch_p50": round(median * 1e3, 2),
            "runs": len(times),
        }

    for name, stats in latency.items():
        stats["gflop_per_s_at_p50"] = round(flops / (stats["p50_ms"] * 1e-3) / 1e9, 1)
        precision = name.rsplit(" ", 1)[-1]
        if name.startswith("onnxruntime") and precision in TARGET_P50_MS:
            stats["target_p50_ms"] = TARGET_P50_MS[precision]
            stats["meets_target"] = stats["p50_ms"] <= TARGET_P50_MS[precision]
    return {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {"onnxruntime": ort.__version__, "torch": torch.__version__},
        "models": {n: {"path": shown(p), "bytes": p.stat().st_size} for n, p in paths.items()},
        "session_load_ms": {name: session_load_ms(p) for name, p in paths.items()},
        "model_gflop_per_image": round(flops / 1e9, 4),
        "latency_1_image_1_thread": latency,
        "float32_latency_by_optimisation_level": levels,
        f"throughput_batch_{BATCH}_2_threads": throughput,
        "session_options": "intra_op 1 (2 for throughput, except '2 x predict, 1 thread': two "
        "concurrent predict() calls on one 1-thread session), inter_op 1, ORT_ENABLE_ALL",
    }


def print_table(result: dict) -> None:
    print(
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"load {result['machine']['loadavg_before']}"
    )
    print(f"model: {result['model_gflop_per_image'] * 1e3:.0f} MFLOP per image")
    print("latency, 1 image, 1 thread:")
    for name, s in result["latency_1_image_1_thread"].items():
        target = ""
        if "target_p50_ms" in s:
            verdict = "meets" if s["meets_target"] else "MISSES"
            target = f"  ({verdict} target {s['target_p50_ms']} ms)"
        print(
            f"  {name:<30} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  "
            f"min {s['min_ms']:.3f} ms  {s['gflop_per_s_at_p50']:.0f} GFLOP/s{target}"
        )
    print("float32 session.run latency by graph optimisation level:")
    for name, s in result["float32_latency_by_optimisation_level"].items():
        print(f"  {name:<38} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    print(f"throughput, batch {BATCH}, 2 threads:")
    for name, s in result[f"throughput_batch_{BATCH}_2_threads"].items():
        rate, per_batch = s["images_per_s"], s["ms_per_batch_p50"]
        print(f"  {name:<30} {rate:>8.0f} images/s  ({per_batch:.1f} ms/batch)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export_benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, default, what in (
        ("--model", DEFAULT_MODEL, "float32 model"),
        ("--int8", INT8_MODEL, "int8 model, measured when it exists"),
        ("--weights", DEFAULT_WEIGHTS, "PyTorch weights for the eager baseline"),
        ("--output", DEFAULT_RESULTS, "results JSON"),
    ):
        parser.add_argument(flag, type=Path, default=default, help=f"{what} ({shown(default)})")
    parser.add_argument(
        "--runs", type=int, default=LATENCY_RUNS, help="latency runs per runtime (%(default)s)"
    )
    args = parser.parse_args(argv)
    result = run(args)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(result, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
