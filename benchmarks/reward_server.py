"""Reward-server throughput over loopback with scripted models.

Starts `debate serve-reward --judge scripted --debater scripted` on a free port, sends
`--requests` POST /get_reward requests of `--items` rewards each from `--clients`
concurrent clients (aiohttp), and prints one JSON object:
`{"requests", "rewards_per_s", "p50_ms", "p99_ms", ...}` (plus the settings it ran
with, so a number is never read without its batch size and protocol). Each reward is a
full protocol run in both answer orders, so `--protocol debate` costs 2 units × (6
speeches + 1 verdict) of engine work per reward; `--protocol direct-qa` (judge only)
measures the server and one verdict per order.

    .venv/bin/python benchmarks/reward_server.py [--protocol debate] [--items 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def payload(index: int, items: int) -> dict[str, list[str]]:
    prompts = [f"Question {index}.{k}: which city is the capital? " for k in range(items)]
    return {
        "query": [p + f"City number {k}." for k, p in enumerate(prompts)],
        "prompts": prompts,
        "labels": [f"Town number {k}." for k in range(items)],
    }


async def wait_ready(session: aiohttp.ClientSession, url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            async with session.get(url + "/health") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("server did not start in 120 s")


async def drive(url: str, requests: int, items: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url + "/get_reward", json=payload(index, items)) as reply:
                body = await reply.json()
                if reply.status != 200 or len(body["rewards"]) != items:
                    raise SystemExit(f"bad reply {reply.status}: {str(body)[:300]}")
            latencies.append((time.perf_counter() - started) * 1000)

    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(url + "/get_reward", json=payload(-1, items)) as warm:
            await warm.read()
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - started
    return wall, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="debate")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--items", type=int, default=64, help="rewards per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    port = free_port()
    debate = str(Path(sys.executable).with_name("debate"))
    command = [debate, "serve-reward", "--protocol", args.protocol, "--judge", "scripted"]
    command += ["--debater", "scripted", "--port", str(port), "--concurrency", "512"]
    command += ["--workers", str(args.workers)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, url, process)
        wall, latencies = await drive(url, args.requests, args.items, args.clients)
    finally:
        process.terminate()
        process.wait(timeout=30)
    ordered = sorted(latencies)
    result = {
        "requests": args.requests,
        "rewards_per_s": round(args.requests * args.items / wall, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
    }
    context = {
        "rewards_per_request": args.items,
        "clients": args.clients,
        "server_workers": args.workers,
        "protocol": args.protocol,
        "wall_s": round(wall, 3),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(context), file=sys.stderr)  # the setting behind the figures
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
