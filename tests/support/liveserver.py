"""Start the page in a child process on a free loopback port, for tests and benchmarks.

A child process (not a thread) so the browser driver, the load generator and the server do
not share one interpreter's GIL: the numbers then describe the server, not the harness.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.paths import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveApp:
    url: str
    process: subprocess.Popen
    log_path: Path

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc), 0 where unknown."""
        try:
            fields = Path(f"/proc/{self.process.pid}/status").read_text().split("\n")
        except OSError:
            return 0
        for line in fields:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_app(
    command: tuple[str, ...] = ("demo/app.py",),
    log_path: Path | None = None,
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
) -> Iterator[LiveApp]:
    """Run `python *command` (default: the Space's `demo/app.py`) until the with-block ends;
    `env` adds to (or overrides) this process' environment."""
    port = free_port()
    env = dict(os.environ, **(env or {}))
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    env.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"hrnn-app-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    app = LiveApp(f"http://127.0.0.1:{port}/", process, log_path)
    try:
        _wait_ready(app, timeout)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(app: LiveApp, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"the app exited with {app.process.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.url + "gradio_api/info", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the app did not answer within {timeout:.0f} s:\n{app.log_tail()}")
