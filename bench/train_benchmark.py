"""Training throughput in samples per second: `python -m bench.train_benchmark [--device cuda]`.

Times the real training step (train/step.py) on random MNIST-shaped batches for a few
settings, reports the median of several timed blocks, and writes JSON. Timings on a
shared machine wobble: compare ratios from one run, not numbers across runs.
"""

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from bench.paths import write_json
from train import pendigits
from train import step as step_fns
from train.augment import AugmentConfig, augment, for_recipe
from train.config import make_config
from train.data import DataError
from train.device import describe_device, pick_device
from train.model import HRNN
from train.render import render

# (label, batch, threads, cuda graphs, bf16 autocast, torch.compile)
CPU_SETTINGS = [
    ("fp32, 1 thread", 32, 1, False, False, False),
    ("fp32, 2 threads", 32, 2, False, False, False),
    ("fp32, 2 threads, torch.compile", 32, 2, False, False, True),
    ("bf16 autocast, 1 thread", 32, 1, False, True, False),
    ("bf16 autocast, 2 threads", 32, 2, False, True, False),
    ("fp32, 2 threads, batch 128", 128, 2, False, False, False),
    ("bf16 autocast, 2 threads, batch 128", 128, 2, False, True, False),
]
CUDA_SETTINGS = [
    ("eager, batch 32", 32, None, False, False, False),
    ("cuda graph, batch 32", 32, None, True, False, False),
    ("cuda graph, batch 32, bf16", 32, None, True, True, False),
    ("eager, batch 128", 128, None, False, False, False),
    ("cuda graph, batch 128", 128, None, True, False, False),
    ("cuda graph, batch 128, bf16", 128, None, True, True, False),
    ("cuda graph, batch 512", 512, None, True, False, False),
]


def time_steps(step, images, labels, steps: int, blocks: int, device) -> float:
    """Median samples/second over `blocks` timed runs of `steps` steps each."""
    for _ in range(3):  # warm-up: allocator, kernels, autotuning
        step(images, labels)
    rates = []
    for _ in range(blocks):
        _sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            step(images, labels)
        _sync(device)
        rates.append(steps * images.shape[0] / (time.perf_counter() - started))
    return statistics.median(rates)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    device: torch.device,
    batch: int,
    graphs: bool,
    bf16: bool,
    steps: int,
    blocks: int,
    compile_model: bool = False,
) -> float:
    torch.manual_seed(0)
    model = HRNN().to(device).train()
    if compile_model:  # the LSTMs stay single ATen ops, so this only fuses the glue
        model = torch.compile(model)
    recipe = make_config("seed", batch_size=batch)
    optimizer = step_fns.make_optimizer(model, recipe, capturable=graphs)
    step = step_fns.make_step(model, optimizer, recipe, bf16=bf16)
    images = torch.rand(batch, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    if graphs:
        step = step_fns.capture_step(model, optimizer, step, images, labels)
    return time_steps(step, images, labels, steps, blocks, device)


def _median_ms(work, device: torch.device, repeats: int) -> float:
    """Median wall ms of `work()` over `repeats` runs, the device synchronised around each."""
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        work()
        _sync(device)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def augment_ms(
    device: torch.device, config: AugmentConfig, batch: int = 128, repeats: int = 50
) -> float:
    images = torch.rand(batch, 28, 28, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    return _median_ms(lambda: augment(images, config, generator), device, repeats)


def render_ms(device: torch.device, batch: int = 128, repeats: int = 20) -> float:
    """Median ms to draw `batch` pendigits strokes (the writers recipe's extra work per sample)."""
    points, ids, _ = pendigits.pack(pendigits.read_pendigits(pendigits.find_file())[:batch])
    points, ids = torch.from_numpy(points).to(device), torch.from_numpy(ids).to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    return _median_ms(lambda: render(points, ids, generator), device, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_benchmark", description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, help="steps per timed block (default: by device)")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks; the median is kept")
    parser.add_argument(
        "--only", help="run only the settings whose label contains this (e.g. 'batch 128')"
    )
    parser.add_argument("--json", type=Path, default=Path("results/train_benchmark.json"))
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    rows = []
    settings = CUDA_SETTINGS if device.type == "cuda" else CPU_SETTINGS
    steps = args.steps or (200 if device.type == "cuda" else 5)
    for label, batch, threads, graphs, bf16, compiled in settings:
        if args.only and args.only not in label:
            continue
        if threads:
            torch.set_num_threads(threads)
        rate = measure(device, batch, graphs, bf16, steps, args.blocks, compiled)
        rows.append({"setting": label, "batch": batch, "samples_per_second": round(rate, 1)})
        print(f"{label:40s} {rate:10.1f} samples/s", flush=True)
    writers = for_recipe(make_config("writers"))  # the shipped recipe's augmentation
    result = {
        "device": describe_device(device),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "median_of_blocks": args.blocks,
        "steps_per_block": steps,
        "results": rows,
        "augment_ms_per_batch_128": round(augment_ms(device, AugmentConfig()), 3),
        "augment_writers_ms_per_batch_128": round(augment_ms(device, writers), 3),
    }
    print(
        f"augmentation: {result['augment_ms_per_batch_128']} ms per batch of 128 "
        f"({result['augment_writers_ms_per_batch_128']} ms with the writers recipe's)"
    )
    try:
        result["render_ms_per_128_pen_digits"] = round(render_ms(device), 3)
        print(f"stroke rendering: {result['render_ms_per_128_pen_digits']} ms per 128 pen digits")
    except DataError as error:  # no pendigits file on this machine
        print(f"stroke rendering not measured: {error}")
    write_json(args.json, result)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
