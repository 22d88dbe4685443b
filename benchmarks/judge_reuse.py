"""Debater calls of a 3-judge `debate bench` sweep, each judge's debates made apart vs shared.

The same sweep runs twice: debate and consultancy on the bundled TruthfulQA sample
(LIMIT questions, both answer orders), three judges, debaters served by a real llm-katan
(echo backend, on a free loopback port, started and stopped here), judges scripted. First
with `reuse_debates: false` (before: every judge's cells generate their own debates),
then with the default `reuse_debates: true` (after: the first judge's cells generate them
once and the other judges judge them again). The debaters' calls are counted twice: by
the server's request counter and from the records' per-role usage.

Prints one JSON object: `judges`, `debater_calls_before`, `debater_calls_after`,
`server_requests_before`, `server_requests_after`, `ratio` (before / after) and the wall
seconds of each sweep with their ratio.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debate.bench.experiment import Experiment, run_bench  # noqa: E402

JUDGES = ["scripted/j1", "scripted/j2", "scripted/j3"]
PROTOCOLS = ["debate", "consultancy"]
LIMIT = 10
MODEL = "katan-echo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_katan(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    katan = Path(sys.executable).with_name("llm-katan")
    port = free_port()
    command = [
        str(katan) if katan.exists() else (shutil.which("llm-katan") or "llm-katan"),
        *("--model", MODEL, "--backend", "echo", "--host", "127.0.0.1", "--port", str(port)),
        *("--max-concurrent", "64", "--log-level", "warning", "--disable-dashboard"),
        *("--stats-file", str(workdir / "katan-stats.json")),
    ]
    log = (workdir / "katan.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"llm-katan exited: {(workdir / 'katan.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("llm-katan did not start in 120 s")


def server_requests(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    line = next(x for x in text.splitlines() if x.startswith("llm_katan_requests_total{"))
    return int(float(line.rsplit(" ", 1)[1]))


def sweep(workdir: Path, base_url: str, reuse: bool) -> tuple[int, int, float]:
    """(debater calls from the records, server requests, wall seconds) of one sweep."""
    experiment = Experiment(
        name=f"reuse-{reuse}",
        protocols=PROTOCOLS,
        judges={model.rsplit("/", 1)[1]: model for model in JUDGES},
        debaters={"echo": f"openai/{MODEL}"},
        limit=LIMIT,
        reuse_debates=reuse,
        resamples=200,
    )
    before = server_requests(base_url)
    started = time.perf_counter()
    quiet = Console(file=io.StringIO(), width=160)
    result = run_bench(experiment, workdir / f"bench-{reuse}", console=quiet)
    wall = time.perf_counter() - started
    return result["debater_calls"]["made"], server_requests(base_url) - before, wall


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="judge-reuse-"))
    process, base_url = start_katan(workdir)
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    try:
        calls_before, requests_before, wall_before = sweep(workdir, base_url, reuse=False)
        calls_after, requests_after, wall_after = sweep(workdir, base_url, reuse=True)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "judges": len(JUDGES),
                "protocols": PROTOCOLS,
                "questions": LIMIT,
                "debater_calls_before": calls_before,
                "debater_calls_after": calls_after,
                "server_requests_before": requests_before,
                "server_requests_after": requests_after,
                "ratio": round(calls_before / calls_after, 3),
                "wall_s_before": round(wall_before, 2),
                "wall_s_after": round(wall_after, 2),
                "wall_ratio": round(wall_before / wall_after, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
