"""What glibc's mmap and trim thresholds cost a drawing read: the server's against others.

    python -m tools.allocator [--reads 60] [--blocks 7] [--out results/allocator.json]

demo.guard.serve fixes the thresholds (demo.limits.tune_malloc) so that a photo's big buffers
go back to the system. Set too low, every read of a 280x280 drawing page-faults its work arrays
in afresh. Each setting runs in its own process (mallopt cannot be undone): page-like ink
PNGs (black strokes on a transparent 280 px canvas, from MNIST sample digits) read through
demo.reading.read, one onnxruntime thread; thread CPU per read, median of --blocks blocks.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from demo.limits import MMAP_THRESHOLD, TRIM_THRESHOLD
from tools.paths import REPO, RESULTS, write_json

# name: (mmap threshold, trim threshold), None for glibc's own
SETTINGS = {
    "glibc default": None,
    "before (trim 1 MiB)": (MMAP_THRESHOLD, 2**20),
    "server": (MMAP_THRESHOLD, TRIM_THRESHOLD),
    "server, mmap 4 MiB": (4 * 2**20, TRIM_THRESHOLD),
}
_PROBE = """
import io, json, statistics, sys, time
import numpy as np
from PIL import Image
thresholds, reads, blocks = json.loads(sys.argv[1])
if thresholds is not None:
    from demo.limits import tune_malloc
    tune_malloc(*thresholds)
from demo.classifier import Classifier
from demo.reading import read
from tools.handwriting import draw_on_canvas
from tools.paths import SAMPLE
with np.load(SAMPLE) as sample:
    digits = sample["images"][:reads]
rng = np.random.default_rng(0)
pngs = []
for digit in digits:
    ink = 255 - draw_on_canvas(digit, rng, canvas=280)
    rgba = np.dstack([np.zeros((280, 280, 3), np.uint8), ink])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    pngs.append(buffer.getvalue())
classifier = Classifier(threads=1)
for png in pngs:
    read(classifier, png)
times = []
for _ in range(blocks):
    started = time.thread_time()
    for png in pngs:
        read(classifier, png)
    times.append(1000 * (time.thread_time() - started) / len(pngs))
print(json.dumps(statistics.median(times)))
"""


def measure(thresholds: tuple[int, int] | None, reads: int, blocks: int) -> float:
    """ms of CPU per read in a fresh process with those (mmap, trim) thresholds (None: glibc's)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([thresholds, reads, blocks])],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=60, help="drawings per block (default 60)")
    parser.add_argument("--blocks", type=int, default=7, help="timed blocks (default 7)")
    parser.add_argument("--out", type=Path, default=RESULTS / "allocator.json")
    args = parser.parse_args(argv)
    if args.reads < 1 or args.blocks < 1:
        parser.error("--reads and --blocks must be at least 1")
    result = {
        "command": " ".join(["python -m tools.allocator", *(argv or sys.argv[1:])]),
        "what": "thread CPU ms per read() of a 280 px ink PNG, median of blocks",
        "reads": args.reads,
        "blocks": args.blocks,
        "load_average": os.getloadavg()[0],
        "ms_per_read": {},
    }
    for name, thresholds in SETTINGS.items():
        result["ms_per_read"][name] = round(measure(thresholds, args.reads, args.blocks), 2)
        shown = (
            "glibc's own"
            if thresholds is None
            else f"mmap {thresholds[0] // 1024} / trim {thresholds[1] // 1024} KiB"
        )
        print(f"{name:20s} {shown:26s} {result['ms_per_read'][name]:.2f} ms a read")
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
