"""Start and stop a real llm-katan server on loopback for integration tests.

`start_katan(...)` launches `llm-katan` as a child process on a free 127.0.0.1
port, waits until `/health` answers and returns a `KatanServer` with its
`base_url` (ending in `/v1`). `stop()` terminates it. The `katan` pytest fixture
hands out a factory and stops every server it started at teardown; import it
into a test module with `from katan import katan_fixture  # noqa: F401` and
ask for `katan` (type `KatanFactory`).

The echo backend answers instantly and injects faults through CLI flags, e.g.
`katan(error_rate=0.3)`, `katan(latency_ms=100, max_concurrent=64)`; keyword
arguments become `--flag-name value` and `True` becomes a bare `--flag`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def katan_executable() -> str:
    """The `llm-katan` script next to this interpreter, else the one on PATH."""
    candidate = Path(sys.executable).with_name("llm-katan")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("llm-katan")
    if found is None:
        pytest.skip("llm-katan is not installed (pip install 'debate-lab[dev]')")
    return found


@dataclass
class KatanServer:
    """A running llm-katan child process."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    model: str
    workdir: Path
    _own_workdir: bool = field(default=False, repr=False)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (what `--model-base-url` takes)."""
        return f"{self.root_url}/v1"

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _flags(options: dict[str, object]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args.extend([flag, str(value)])
    return args


def _wait_healthy(server: KatanServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"{server.root_url}/health"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"llm-katan exited with status {server.process.returncode}:\n{server.log()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"llm-katan did not become healthy in {timeout_s:.0f}s:\n{server.log()}")


def start_katan(
    *,
    backend: str = "echo",
    model: str = "katan-echo",
    workdir: Path | None = None,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
    env: dict[str, str] | None = None,
    **options: object,
) -> KatanServer:
    """Start llm-katan on a free loopback port and wait until it is healthy.

    `model` is what `--model` loads (a name for echo, a checkpoint dir for
    transformers); the served name defaults to it. Other keyword arguments map
    to CLI flags. Logs and the stats file go to `workdir` (a temp dir by default).
    """
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="katan-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    options.setdefault("log_level", "warning")
    options.setdefault("stats_file", str(work / "stats.json"))
    options.setdefault("disable_dashboard", True)
    last_error: Exception | None = None
    for _ in range(3):  # a port picked as free can be taken before the server binds it
        port = free_port()
        log_path = work / f"katan-{port}.log"
        command = [
            katan_executable(),
            "--model",
            model,
            "--backend",
            backend,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *_flags(options),
        ]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        server = KatanServer(port, process, log_path, model, work, _own_workdir=False)
        try:
            _wait_healthy(server, startup_timeout_s)
        except RuntimeError as exc:
            server.stop()
            last_error = exc
            if "address already in use" in server.log().lower():
                continue
            break
        server._own_workdir = own
        return server
    if own:
        shutil.rmtree(work, ignore_errors=True)
    raise RuntimeError(str(last_error))


KatanFactory = Callable[..., KatanServer]


@pytest.fixture(name="katan")
def katan_fixture(tmp_path: Path) -> Iterator[KatanFactory]:
    """A factory that starts llm-katan servers; all are stopped at teardown."""
    servers: list[KatanServer] = []

    def factory(**options: object) -> KatanServer:
        options.setdefault("workdir", tmp_path / f"katan{len(servers)}")
        server = start_katan(**options)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
