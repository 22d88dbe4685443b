"""A server slower than the client's timeout: every built-in protocol with a simultaneous
(`together`) step fails its units cleanly, into `failures.jsonl` with the reason and exit
status 3, and `--resume` against a working server (at a new URL) completes them.

Simultaneous steps start one model call in the caller's task and the others in tasks of
their own; a timeout inside one of them must fail that call, not cancel another task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from katan import KatanFactory, katan_fixture  # noqa: F401

pytestmark = pytest.mark.server

TOGETHER_PROTOCOLS = ["debate", "open-debate", "society-of-minds"]


def scenarios(folder: Path) -> Path:
    path = folder / "s.jsonl"
    rows = [
        {
            "id": f"q{i}",
            "question": f"Is claim {i} true?",
            "answers": ["yes", "no"],
            "correct_index": i % 2,
        }
        for i in range(2)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DEBATE_"))}
    env.update(
        OPENAI_API_KEY="sk-test",
        DEBATE_OPENAI_TIMEOUT_S="0.5",
        DEBATE_OPENAI_MAX_RETRIES="0",
        DEBATE_CACHE_DIR=str(cwd / "cache"),
    )
    return subprocess.run(
        [sys.executable, "-m", "debate.cli", "run", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("protocol", TOGETHER_PROTOCOLS)
def test_slow_server_fails_units_cleanly_and_resume_completes_them(
    katan: KatanFactory, tmp_path: Path, protocol: str
) -> None:
    data = scenarios(tmp_path)
    slow = katan(latency_ms=3000, max_concurrent=64)
    common = [protocol, "--scenarios", str(data), "--model", "openai/katan-echo", "--out", "run"]
    first = run([*common, "--model-base-url", slow.base_url, "--no-show"], tmp_path)
    assert "Traceback" not in first.stderr and "CancelledError" not in first.stderr, first.stderr
    assert first.returncode == 3, (first.returncode, first.stderr[-2000:])
    failures = lines(tmp_path / "run" / "failures.jsonl")
    assert failures and not lines(tmp_path / "run" / "transcripts.jsonl")
    assert all("ModelError" in str(f["error"]) for f in failures), failures
    assert "unit(s) failed" in first.stderr
    slow.stop()

    fast = katan(max_concurrent=64)
    second = run([*common, "--model-base-url", fast.base_url, "--resume", "--no-show"], tmp_path)
    assert second.returncode == 0, (second.returncode, second.stderr[-2000:])
    done = {str(r["id"]) for r in lines(tmp_path / "run" / "transcripts.jsonl")}
    assert done == {str(f["id"]) for f in failures}
