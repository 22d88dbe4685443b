"""Concurrency benchmark: many debates against a slow OpenAI-compatible server.

Workload: 64 debates of 4 dependent steps each (two debaters taking turns for two
rounds, no verdict), every step one request to llm-katan's echo backend with
`--latency-ms 100`. If debates run concurrently, the run should take about one
critical path (steps x latency), not debates x steps x latency.

The script starts its own llm-katan on a free loopback port and stops it at the
end. It runs the engine in this process and times `Engine.run` over the 64 debates
with no connection limit, then again with `max_connections=1` (the sequential
baseline). Each timed run follows an untimed warm-up of the same 64-debate width on
the same client, so imports, first renders and opening the connection pool (once per
run of any length) are not in the figure; the run that still opens its connections
goes to stderr.
It prints one JSON object:
`debates`, `steps`, `latency_ms`, `wall_s`, `critical_path_s`,
`ratio_vs_critical_path`, `sequential_wall_s`, `speedup_vs_sequential`.

On stderr it adds diagnostics from the same run: the client's CPU seconds, the cold
run, and the wall time of the same requests sent as 64 chains of 4 dependent bare
HTTP POSTs on a warm aiohttp session (no SDK, no engine), which is the floor the
server and machine allow.

Run from the repository root: `python benchmarks/concurrency.py`.
"""

from __future__ import annotations

import asyncio
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debate.core.engine import Engine, ModelBindings, plan_units  # noqa: E402
from debate.core.loading import load_protocol  # noqa: E402
from debate.core.scenarios import load_scenarios  # noqa: E402
from debate.core.store import RunStore  # noqa: E402

DEBATES = 64
STEPS = 4
LATENCY_MS = 100
MODEL = "katan-echo"
# llm-katan is one Python process per worker; give it what cores we can spare.
SERVER_WORKERS = max(1, min(4, os.cpu_count() or 1))

PROTOCOL = """\
name: chain4
description: Two debaters take turns for two rounds; four dependent speeches, no verdict.
roles:
  debater_a: {agent: debater, defends: 0}
  debater_b: {agent: debater, defends: 1}
rounds:
  - repeat: 2
    speak: [debater_a, debater_b]
swap: false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_katan(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """llm-katan echo with the benchmark latency, enough server concurrency for all."""
    katan = Path(sys.executable).with_name("llm-katan")
    command = [
        str(katan) if katan.exists() else (shutil.which("llm-katan") or "llm-katan"),
        *("--model", MODEL, "--backend", "echo", "--host", "127.0.0.1"),
        *("--port", str(port := free_port()), "--latency-ms", str(LATENCY_MS)),
        *("--max-concurrent", str(4 * DEBATES), "--log-level", "warning"),
        *("--workers", str(SERVER_WORKERS)),
        *("--stats-file", str(workdir / "katan-stats.json"), "--disable-dashboard"),
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


def write_inputs(workdir: Path, n: int, tag: str) -> tuple[Path, Path]:
    protocol = workdir / "chain4.yaml"
    protocol.write_text(PROTOCOL)
    scenarios = workdir / f"scenarios-{tag}.jsonl"
    with scenarios.open("w") as handle:
        for i in range(n):
            row = {
                "id": f"{tag}-{i}",
                "question": f"Is statement {i} true?",
                "answers": ["yes", "no"],
                "correct_index": i % 2,
            }
            handle.write(json.dumps(row) + "\n")
    return protocol, scenarios


def timed_run(workdir: Path, base_url: str, n: int, tag: str, max_connections: int | None) -> float:
    """Wall seconds of `Engine.run` over `n` debates, with a run store as `debate run`
    has, after untimed warm-ups on the same client: one debate, then `n` more.

    The warm-up takes one-time costs out of the figure: imports and first renders, and
    the client's connection pool (a long run opens its connections once, not per
    debate). The run that opens the connections is timed too, into DIAGNOSTICS."""
    bindings = ModelBindings(
        {"": f"openai/{MODEL}"},
        base_urls={"": base_url},
        options={} if max_connections is None else {"max_connections": max_connections},
    )
    stores: list[RunStore] = []

    async def one_run(run_tag: str, count: int) -> float:
        protocol_path, scenarios_path = write_inputs(workdir, count, run_tag)
        bundle = load_protocol(str(protocol_path))
        plans = plan_units(bundle, load_scenarios(str(scenarios_path)), seed=0, swap=False)
        stores.append(store := RunStore(workdir / f"run-{run_tag}"))
        engine = Engine(bundle, bindings, store=store, concurrency=count)
        started, cpu = time.perf_counter(), time.process_time()
        records = await engine.run(plans)
        wall = time.perf_counter() - started
        DIAGNOSTICS[f"{run_tag}_client_cpu_s"] = round(time.process_time() - cpu, 3)
        if len(records) != count or engine.failures:
            failures = engine.failures
            raise SystemExit(f"{run_tag}: {len(records)} of {count} debates, failures: {failures}")
        steps = {len(record["messages"]) for record in records}
        if steps != {STEPS}:
            raise SystemExit(f"{run_tag}: expected {STEPS} steps per debate, got {steps}")
        return wall

    async def go() -> float:
        try:
            await one_run(f"{tag}-first", 1)  # imports and first renders
            # then as wide as the pool will be (a sequential run needs one connection):
            # the figure with connections still to open goes to stderr
            width = n if max_connections is None else min(n, max_connections)
            DIAGNOSTICS[f"{tag}_cold_pool_wall_s"] = round(await one_run(f"{tag}-cold", width), 3)
            return await one_run(tag, n)
        finally:
            await bindings.aclose()

    try:
        return asyncio.run(go())
    finally:
        for store in stores:
            store.close()


async def raw_http_chains(base_url: str, chains: int, steps: int) -> float:
    """Wall seconds of `chains` concurrent chains of `steps` dependent bare POSTs on one
    warm aiohttp session (no SDK, no engine): what the server and this machine allow."""
    import aiohttp

    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Round 1 of 2. Give your opening argument."}],
        "max_tokens": 200,
    }
    headers = {"Authorization": "Bearer sk-benchmark-placeholder"}
    connector = aiohttp.TCPConnector(limit=chains)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one() -> None:
            async with session.post(f"{base_url}/chat/completions", json=body) as reply:
                await reply.read()
                if reply.status != 200:
                    raise SystemExit(f"raw HTTP baseline: the server returned {reply.status}")

        async def chain() -> None:
            for _ in range(steps):
                await one()

        await asyncio.gather(*(one() for _ in range(chains)))  # open the pool untimed
        started = time.perf_counter()
        await asyncio.gather(*(chain() for _ in range(chains)))
        return time.perf_counter() - started


DIAGNOSTICS: dict[str, Any] = {}


def main() -> None:
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark-placeholder")
    workdir = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
    process, base_url = start_katan(workdir)
    try:
        wall = timed_run(workdir, base_url, DEBATES, "concurrent", None)
        raw = asyncio.run(raw_http_chains(base_url, DEBATES, STEPS))
        DIAGNOSTICS["raw_http_wall_s"] = round(raw, 3)
        DIAGNOSTICS["raw_http_ratio_vs_critical_path"] = round(raw / (STEPS * LATENCY_MS / 1000), 3)
        sequential = timed_run(workdir, base_url, DEBATES, "sequential", 1)
        cold = DIAGNOSTICS["concurrent_cold_pool_wall_s"] / (STEPS * LATENCY_MS / 1000)
        DIAGNOSTICS["cold_pool_ratio_vs_critical_path"] = round(cold, 3)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    critical = STEPS * LATENCY_MS / 1000
    result = {
        "debates": DEBATES,
        "steps": STEPS,
        "latency_ms": LATENCY_MS,
        "wall_s": round(wall, 3),
        "critical_path_s": critical,
        "ratio_vs_critical_path": round(wall / critical, 3),
        "sequential_wall_s": round(sequential, 3),
        "speedup_vs_sequential": round(sequential / wall, 2),
    }
    # Context for reading the result (stderr, so stdout stays one JSON object): the
    # same requests as bare chained POSTs show the server's and machine's own floor.
    context = {"diagnostics": DIAGNOSTICS, "cpus": os.cpu_count(), "server_workers": SERVER_WORKERS}
    print(json.dumps(context), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
