"""Load benchmark: many concurrent gradio_client users against the live page on loopback.

    python -m tests.support.loadtest [--clients 32] [--requests 50] [--max-seconds 150]

Starts `demo/app.py` in a child process, lets each client thread send MNIST test digits to
/classify back to back (stopping early at --max-seconds), and reports errors (must be 0),
p50/p95 latency, throughput and the server's RSS before and after. Writes
results/loadtest.json. Dev tool: gradio_client ships with gradio.

Each client says it is a different address (X-Forwarded-For, which the server trusts from a
loopback peer as from a proxy), so the per-client shares apply per user, as on the Space.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.measure_latency import percentile
from bench.paths import SAMPLE, write_json
from tests.support.liveserver import REPO, running_app


def write_digits(folder: Path, count: int = 50) -> list[Path]:
    with np.load(SAMPLE) as sample:
        images = sample["images"][:count]
    paths = []
    for k, image in enumerate(images):
        path = folder / f"digit_{k}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def user(
    url: str, paths: list[Path], requests: int, stop_at: float, out: dict, number: int
) -> None:
    from gradio_client import Client, handle_file

    address = f"198.51.{100 + number // 250}.{1 + number % 250}"  # documentation addresses
    try:
        client = Client(url, verbose=False, headers={"X-Forwarded-For": address})
    except Exception as error:  # a refused connection is an error the report must count
        out["errors"].append(f"connect: {error!r}"[:200])
        return
    for k in range(requests):
        if time.monotonic() > stop_at:
            break
        started = time.perf_counter()
        try:
            answer = client.predict(handle_file(str(paths[k % len(paths)])), api_name="/classify")
            if answer.get("state") != "reading":
                raise RuntimeError(f"no reading: {answer.get('message')}")
            out["latencies"].append((time.perf_counter() - started) * 1000)
        except Exception as error:
            out["errors"].append(repr(error)[:200])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--max-seconds", type=float, default=150.0)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "loadtest.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, running_app() as app:
        paths = write_digits(Path(tmp))
        from gradio_client import Client, handle_file

        Client(app.url, verbose=False).predict(handle_file(str(paths[0])), api_name="/classify")
        rss_before = app.rss_bytes()
        out: dict = {"latencies": [], "errors": []}
        started = time.monotonic()
        stop_at = started + args.max_seconds
        threads = [
            threading.Thread(
                target=user, args=(app.url, paths, args.requests, stop_at, out, number)
            )
            for number in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        rss_after = app.rss_bytes()
        alive = app.process.poll() is None
    latencies = out["latencies"]
    result = {
        "command": " ".join(["python -m tests.support.loadtest", *sys.argv[1:]]),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
        "clients": args.clients,
        "requests_per_client": args.requests,
        "completed": len(latencies),
        "errors": len(out["errors"]),
        "error_samples": out["errors"][:5],
        "seconds": round(elapsed, 1),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if len(latencies) >= 100 else None,
        "server_rss_mb_before": round(rss_before / 2**20, 1),
        "server_rss_mb_after": round(rss_after / 2**20, 1),
        "server_alive_after": alive,
    }
    print(json.dumps(result, indent=2))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    if result["errors"] or not alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
