"""`debate run` end to end against a misbehaving OpenAI-compatible server.

Each test starts llm-katan's echo backend on loopback with fault injection
(`--error-rate`, `--latency-ms`, `--rate-limit-after`, `--max-inflight`) and runs
the real CLI in a subprocess. What must hold: every unit ends up in the store
exactly once (failed units are recorded, then retried by `--resume`), every line
of the store parses, a SIGKILL loses nothing that was finished, and the API key
is written nowhere under the run or cache directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from katan import KatanFactory, KatanServer, katan_fixture  # noqa: F401

pytestmark = pytest.mark.server

SECRET = "sk-FAULTTEST-do-not-write-7f3a9c"

PROTOCOL = """\
name: faulty-debate
description: One round of two debaters, then the judge; a short workload for fault tests.
roles:
  debater_a: {agent: debater, defends: 0}
  debater_b: {agent: debater, defends: 1}
  judge: {judge: qa-judge}
rounds:
  - speak: [debater_a, debater_b]
verdict: judge
swap: false
"""

CHAIN = """\
name: chain
description: Two debaters take turns for two rounds; no verdict.
roles:
  debater_a: {agent: debater, defends: 0}
  debater_b: {agent: debater, defends: 1}
rounds:
  - repeat: 2
    speak: [debater_a, debater_b]
swap: false
"""


def write_inputs(directory: Path, protocol: str, n: int) -> tuple[Path, Path, list[str]]:
    directory.mkdir(parents=True, exist_ok=True)
    protocol_path = directory / "protocol.yaml"
    protocol_path.write_text(protocol)
    scenarios = directory / "scenarios.jsonl"
    with scenarios.open("w") as handle:
        for i in range(n):
            row = {
                "id": f"s{i:03d}",
                "question": f"Is claim {i} true?",
                "answers": ["yes", "no"],
                "correct_index": i % 2,
            }
            handle.write(json.dumps(row) + "\n")
    name = protocol.split("\n", 1)[0].removeprefix("name: ").strip()
    return protocol_path, scenarios, [f"{name}/s{i:03d}/orig" for i in range(n)]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DEBATE_"))}
    env.update(
        OPENAI_API_KEY=SECRET,
        DEBATE_CACHE_DIR=str(tmp_path / "debate-cache"),
        PYTHONUNBUFFERED="1",
        COLUMNS="120",
    )
    env.update(extra)
    return env


def run_args(protocol: Path, scenarios: Path, server: KatanServer, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "debate.cli",
        "run",
        str(protocol),
        "--scenarios",
        str(scenarios),
        "--model",
        "openai/katan-echo",
        "--model-base-url",
        server.base_url,
        "--out",
        str(out),
        "--no-show",
    ]


def debate_run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=420, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    out = cwd / args[args.index("--out") + 1]
    expected = 3 if outstanding_failures(out) else 0  # 3: the run ended with failed units
    assert done.returncode == expected, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return done


def read_lines(path: Path) -> list[dict[str, object]]:
    """Every line of a JSONL file, each of which must parse."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        assert line.strip(), f"{path.name}:{number}: blank line"
        records.append(json.loads(line))  # raises on a torn or corrupt line
    return records


def outstanding_failures(out: Path) -> dict[str, str]:
    done = {str(r["id"]) for r in read_lines(out / "transcripts.jsonl")}
    latest = {str(r["id"]): str(r["error"]) for r in read_lines(out / "failures.jsonl")}
    return {unit: error for unit, error in latest.items() if unit not in done}


def assert_each_unit_once(out: Path, expected: list[str]) -> None:
    ids = [str(r["id"]) for r in read_lines(out / "transcripts.jsonl")]
    duplicates = [unit for unit, count in Counter(ids).items() if count > 1]
    assert not duplicates, f"units recorded twice: {duplicates}"
    assert sorted(ids) == sorted(expected)


def assert_secret_absent(*roots: Path) -> None:
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), f"API key written to {path}"


def test_hundred_units_complete_under_injected_faults(katan: KatanFactory, tmp_path: Path) -> None:
    protocol, scenarios, expected = write_inputs(tmp_path / "inputs", PROTOCOL, 100)
    out, cache = tmp_path / "run", tmp_path / "cache"
    # Phase 1: 500s, latency, overload 503s, and 429 for every request after the 250th.
    flaky = katan(
        error_rate=0.3, latency_ms=20, max_inflight=6, max_concurrent=64, rate_limit_after=250
    )
    args = run_args(protocol, scenarios, flaky, out)
    args += ["--max-connections", "8", "--cache", "--cache-dir", str(cache)]
    env = cli_env(tmp_path, DEBATE_OPENAI_RETRY_BUDGET_S="4")
    debate_run(args, env, tmp_path)
    finished = {str(r["id"]) for r in read_lines(out / "transcripts.jsonl")}
    failed = outstanding_failures(out)
    assert finished and failed, "the rate limit should fail some units and not others"
    assert finished.isdisjoint(failed) and finished | set(failed) == set(expected)  # none lost
    assert any("HTTP 429" in error for error in failed.values())
    assert all("ModelError" in error for error in failed.values())
    flaky.stop()

    # Phase 2: the rate limit is gone; --resume retries exactly the failed units.
    server = katan(error_rate=0.3, latency_ms=20, max_inflight=6, max_concurrent=64)
    resume = run_args(protocol, scenarios, server, out)
    resume += ["--max-connections", "8", "--cache", "--cache-dir", str(cache), "--resume"]
    reused = 0  # each run's summary counts its own cache hits
    for _ in range(3):  # a unit can still exhaust its retries at 30% errors; resume again
        debate_run(resume, cli_env(tmp_path), tmp_path)
        reused += json.loads((out / "summary.json").read_text())["cache"]["hits"]
        if not outstanding_failures(out):
            break
    assert not outstanding_failures(out)
    assert_each_unit_once(out, expected)
    for record in read_lines(out / "transcripts.jsonl"):
        assert len(record["messages"]) == 2  # type: ignore[arg-type]
    assert reused > 0  # phase 1 answers were reused
    assert any(cache.rglob("*.json"))
    assert_secret_absent(out, cache, tmp_path / "debate-cache")


def test_sigkill_mid_run_then_resume(katan: KatanFactory, tmp_path: Path) -> None:
    protocol, scenarios, expected = write_inputs(tmp_path / "inputs", CHAIN, 40)
    out = tmp_path / "run"
    server = katan(latency_ms=100, max_concurrent=64)
    args = run_args(protocol, scenarios, server, out) + ["--concurrency", "4"]
    env = cli_env(tmp_path)
    log = tmp_path / "killed-run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=sink, stderr=sink)
    store = out / "transcripts.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if store.exists() and store.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    if process.poll() is not None:
        output = log.read_text(errors="replace")[-3000:]
        pytest.fail(f"the run ended (status {process.returncode}) before the kill:\n{output}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = read_lines(store)
    assert 5 <= len(before) < len(expected)
    # A crash can also tear the last line mid-write (e.g. power loss): simulate one.
    with store.open("a") as handle:
        handle.write('{"id": "chain/s999/orig", "messages": [{"tex')

    debate_run(args + ["--resume"], env, tmp_path)
    assert_each_unit_once(out, expected)
    after = {str(r["id"]): r for r in read_lines(store)}
    for record in before:  # finished units were kept as they were, not redone
        assert after[str(record["id"])] == record
    assert_secret_absent(out)


def test_api_key_is_not_written_when_the_server_echoes_it(
    katan: KatanFactory, tmp_path: Path
) -> None:
    """llm-katan puts a rejected key into its 401 message; failures must not store it."""
    protocol, scenarios, expected = write_inputs(tmp_path / "inputs", CHAIN, 3)
    out, cache = tmp_path / "run", tmp_path / "cache"
    server = katan(validate_keys=True, api_keys="openai=sk-the-only-valid-key")
    args = run_args(protocol, scenarios, server, out) + ["--cache", "--cache-dir", str(cache)]
    debate_run(args, cli_env(tmp_path), tmp_path)
    failed = outstanding_failures(out)
    assert sorted(failed) == sorted(expected)
    assert all("HTTP 401" in error and "not retried" in error for error in failed.values())
    assert "got '***'" in next(iter(failed.values()))  # redacted, not dropped
    assert_secret_absent(out, cache, tmp_path / "debate-cache")
