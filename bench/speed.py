"""How long and how much memory cleaning one picture costs (demo.photo): a 12-megapixel phone
photo, a sketchpad value; the reader graph's own time is bench/export_benchmark.py's.

Memory: a fresh process's resident size after imports, and its peak once it has read one photo.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from bench.paths import REPO, SAMPLE
from bench.photos import photo
from demo.photo import photo_ink

PHOTO_SIZE = (4000, 3000)  # 12 megapixels, as a phone stores it
RUNS = 15  # timed runs of the photo (median); the drawing gets 10x as many
_MEMORY_PROBE = """
import json, sys
from demo.photo import photo_ink
def status(key):  # VmHWM, not ru_maxrss: that one keeps the forking parent's size across exec
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(key)) / 1024
before = status("VmRSS")
photo_ink(sys.argv[1])
print(json.dumps({"before_mb": before, "after_mb": status("VmHWM")}))
"""


def twelve_megapixel_jpeg(path: str) -> None:
    """A generated phone photo blown up to 4000x3000 and saved as a q90 JPEG."""
    with np.load(SAMPLE) as sample:
        digit = sample["images"][0]
    small = Image.open(io.BytesIO(photo(digit, np.random.default_rng(0))))
    small.resize(PHOTO_SIZE, Image.Resampling.BICUBIC).save(path, "JPEG", quality=90)


def _median_ms(call, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def measure_speed() -> dict:
    """ms per call (median) for a 12 MP JPEG file and a 280 px drawing; the photo's peak memory."""
    from bench.evaluate_preprocessing import draw_on_canvas

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "photo.jpg")
        twelve_megapixel_jpeg(path)
        photo_ink(path)  # warm caches
        photo_ms = _median_ms(lambda: photo_ink(path), RUNS)
        probe = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, path],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        memory = json.loads(probe.stdout)
    with np.load(SAMPLE) as sample:
        drawing = draw_on_canvas(sample["images"][0], np.random.default_rng(0), canvas=280)
    sketch = {
        "background": None,
        "layers": [],
        "composite": np.dstack([drawing, drawing[:, :, :1] * 0 + 255]),
    }
    sketch_ms = _median_ms(lambda: photo_ink(sketch), 10 * RUNS)
    upload_ms = _median_ms(lambda: photo_ink(drawing), 10 * RUNS)
    grew = memory["after_mb"] - memory["before_mb"]
    return {
        "photo_12mp_ms_median": round(photo_ms, 1),
        "photo_runs": RUNS,
        "photo_peak_rss_mb": round(memory["after_mb"], 1),
        "photo_rss_growth_mb": round(grew, 1),
        "sketchpad_280_ms_median": round(sketch_ms, 2),
        "drawing_280_array_ms_median": round(upload_ms, 2),
        "drawing_runs": 10 * RUNS,
        "load_average": os.getloadavg()[0],
        "summary": [
            f"12 MP JPEG file: {photo_ms:.0f} ms median of {RUNS} (decode included); peak RSS "
            f"{memory['after_mb']:.0f} MB in a fresh process, {grew:.0f} MB over its start",
            f"280 px sketchpad value: {sketch_ms:.2f} ms, as an RGB array: {upload_ms:.2f} ms "
            f"(medians of {10 * RUNS}); load average {os.getloadavg()[0]:.2f}",
        ],
    }
