"""Cells of a benchmark: one run directory each, run through `debate.runner.execute_run`.

`RunSettings` are the run options every cell shares (an experiment's, or a tournament's);
`run_cell` runs or resumes one cell so that it can be inspected with `debate report`. A
cell `judged_from` another is made instead by `debate.bench.judging.judge_cell`, which
judges that cell's debates again: same debates, another judge, no debater calls.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from debate.core.costs import CostMeter
from debate.core.store import (
    TRANSCRIPTS,
    check_run_dir,
    latest_failures,
    outstanding_failures,
    read_jsonl,
)
from debate.runner import RunOptions, execute_run


def safe_name(text: str) -> str:
    """A file-name-safe label: `openai/gpt-4o` → `openai-gpt-4o`."""
    stem = Path(text).stem if text.endswith((".yaml", ".yml", ".csv", ".jsonl")) else text
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", stem).strip("-") or "x"


CELL_KEYS = (
    "id",
    "scenario_id",
    "correct",
    "correct_index",
    "swap",
    "variant",
    "repeat",
    "defends",
    "answers",
    "usage",
)
"""What a cell's metrics and comparisons read of a record, besides the final verdict's
choice (and, for records written before usage counted calls, who spoke)."""


def slim_record(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a record a cell's metrics need: a benchmark holds every cell's records
    for its pooled figures, so it keeps these few fields instead of whole transcripts."""
    slim = {key: record[key] for key in CELL_KEYS if key in record}
    final = record.get("final_verdict")
    slim["final_verdict"] = (
        {key: final.get(key) for key in ("valid", "probs", "chosen")}
        if isinstance(final, dict)
        else None
    )
    usage = record.get("usage") or {}
    if not any("calls" in counts for counts in usage.values() if isinstance(counts, dict)):
        slim["messages"] = [{"role": m.get("role")} for m in record.get("messages") or []]
    return slim


def load_cell(directory: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A cell's records (slim, streamed from disk) and its outstanding failures."""
    path = check_run_dir(directory)
    return [slim_record(record) for record in read_jsonl(path)], outstanding_failures(directory)


def spent_in(directory: Path, meter: CostMeter) -> None:
    """Add what a cell's units spent (records and failures) to `meter`."""
    for record in read_jsonl(directory / TRANSCRIPTS):
        meter.add(record)
    for failure in latest_failures(directory).values():
        meter.add(failure)


def has_records(directory: Path) -> bool:
    path = directory / "transcripts.jsonl"
    return path.exists() and path.stat().st_size > 0


class RunSettings(BaseModel):
    """Run options shared by every cell of an experiment."""

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, ge=1)
    swap: bool | None = None
    concurrency: int = Field(default=32, ge=1)
    cache: bool = False
    resamples: int = Field(default=2000, ge=100)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    workers: int | None = Field(default=None, ge=1)
    gpus_per_worker: float = Field(default=0.0, ge=0)
    prices: str | None = None
    """Price table for costs and `max_cost` (default: $DEBATE_PRICES)."""
    max_cost: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """US dollars the whole experiment may spend, over all its cells."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Tokens the whole experiment may spend, over all its cells."""
    extra_body: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="extra request fields of openai/ models, by role ('*': every role)",
    )


class Cell(BaseModel):
    protocol: str
    judge: str
    debaters: str
    scenarios: str
    seed: int
    bindings: dict[str, str]
    source: str
    dir: str
    judged_from: str | None = None
    """The cell whose debates this cell's judge judges again (None: it makes its own)."""
    judge_model: str | None = None
    """The verdict role's model, for a cell judged from another."""
    model_args: dict[str, dict[str, Any]] = Field(default_factory=dict)


def run_cell(
    cell: Cell,
    settings: RunSettings,
    *,
    resume: bool,
    protocol_path: str | None = None,
    limit: int | None = None,
    console: Console | None = None,
    max_cost: float | None = None,
    max_tokens: int | None = None,
) -> float:
    """Run (or resume) one cell's run directory; returns the wall seconds it took now.
    `max_cost`/`max_tokens` cap the cell's own spend (what the experiment has left)."""
    options = RunOptions(
        protocol=protocol_path or cell.protocol,
        scenarios=cell.source,
        bindings=cell.bindings,
        model_args=cell.model_args,
        limit=limit,
        seed=cell.seed,
        out=Path(cell.dir),
        resume=resume,
        concurrency=settings.concurrency,
        swap=settings.swap,
        cache=settings.cache,
        show=False,
        executor=settings.executor,
        ray_address=settings.ray_address,
        workers=settings.workers,
        gpus_per_worker=settings.gpus_per_worker,
        prices=Path(settings.prices) if settings.prices else None,
        max_cost=max_cost,
        max_tokens=max_tokens,
    )
    quiet = console or Console(file=io.StringIO(), width=160)
    started = time.perf_counter()
    execute_run(options, quiet)
    return time.perf_counter() - started
