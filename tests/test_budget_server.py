"""`--max-cost` against a real OpenAI-compatible server (llm-katan) with a price table:
the run stops at its budget with `stop_reason: budget` and exit status 4, and `--resume`
with a larger budget finishes it; `summary.json` holds tokens per role and model and
the cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from katan import KatanFactory, katan_fixture  # noqa: F401

pytestmark = pytest.mark.server

PROTOCOL = """\
name: two-speeches
description: Two debaters speak once each; no verdict.
roles:
  debater_a: {agent: debater, defends: 0}
  debater_b: {agent: debater, defends: 1}
rounds:
  - speak: [debater_a, debater_b]
swap: false
"""
MODEL = "openai/katan-echo"
UNITS = 24


def debate(tmp_path: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DEBATE_"))}
    env.update(OPENAI_API_KEY="sk-test", COLUMNS="120")
    command = [
        sys.executable, "-m", "debate.cli", "run", str(tmp_path / "protocol.yaml"),
        "--scenarios", str(tmp_path / "questions.jsonl"), "--model", MODEL,
        "--model-base-url", base_url, "--prices", str(tmp_path / "prices.yaml"),
        "--concurrency", "3", "--no-show", *extra,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_max_cost_stops_at_the_budget_and_resume_with_more_finishes(
    katan: KatanFactory, tmp_path: Path
) -> None:
    server = katan(max_concurrent=16)
    (tmp_path / "protocol.yaml").write_text(PROTOCOL)
    price = "{input: 100.0, cached_input: 50.0, output: 400.0}"
    (tmp_path / "prices.yaml").write_text(f"date: 2026-11-30\nprices:\n  {MODEL}: {price}\n")
    with (tmp_path / "questions.jsonl").open("w") as handle:
        for i in range(UNITS):
            row = {"id": f"c{i:02d}", "question": f"Is claim {i} true?", "answers": ["yes", "no"]}
            handle.write(json.dumps(row) + "\n")

    full = debate(tmp_path, server.base_url, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-2000:]
    whole = summary(tmp_path / "full")
    assert whole["stop_reason"] == "completed" and whole["n_units"] == UNITS
    tokens = whole["tokens"]
    assert set(tokens["by_role"]) == {"debater_a", "debater_b"}
    assert set(tokens["by_model"]) == {MODEL}
    used = tokens["by_model"][MODEL]
    assert used["prompt_tokens"] > 0 and used["completion_tokens"] > 0
    expected = (used["prompt_tokens"] * 100.0 + used["completion_tokens"] * 400.0) / 1e6
    assert whole["cost"]["usd"] == pytest.approx(expected, rel=1e-6)
    assert whole["cost"]["complete"] is True
    per_unit = whole["cost"]["usd"] / UNITS

    out = tmp_path / "capped"
    budget = round(per_unit * UNITS * 0.4, 6)
    capped = debate(tmp_path, server.base_url, "--out", str(out), "--max-cost", str(budget))
    assert capped.returncode == 4, (capped.stdout[-2000:], capped.stderr[-2000:])
    assert "budget reached" in capped.stdout
    first = summary(out)
    assert first["stop_reason"] == "budget"
    assert 0 < first["n_units"] < UNITS
    # stopped when the next unit would pass the budget; only units in flight (3) ran past it
    assert first["cost"]["usd"] <= budget + 3 * per_unit * 1.5
    assert first["cost"]["usd"] + 3 * per_unit * 1.5 > budget
    assert first["budget"]["max_cost_usd"] == budget

    more = debate(tmp_path, server.base_url, "--out", str(out), "--resume", "--max-cost", "1000")
    assert more.returncode == 0, more.stderr[-2000:]
    final = summary(out)
    assert final["stop_reason"] == "completed" and final["n_units"] == UNITS
    assert final["budget"]["spent_usd"] == pytest.approx(final["cost"]["usd"], rel=1e-6)
