"""`debate judge`: judge a finished run again with other judges, each into its own run directory.

`judge_again` runs one judge (a model string; several, comma-separated, make a panel)
over a source run's finished units into an ordinary run directory (spec.yaml,
transcripts.jsonl, summary.json, report.md), resumable like `debate run --resume`.
`judge_study` does it for every `--judge` and compares the judges on the units all of
them judged: each judge's accuracy there, and paired differences between judges with
paired bootstrap CIs (`debate.analysis.paired`), written to `OUT/judges.json`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from debate.analysis.metrics import accuracy
from debate.analysis.paired import paired_difference, paired_items, scored, unit_key
from debate.analysis.report import summarize_run, write_summary
from debate.bench.budget import SharedBudget, summary_of
from debate.bench.cells import Cell, RunSettings, spent_in
from debate.bench.rejudge import (
    JudgeOnlyBindings,
    JudgingEngine,
    Source,
    judge_bundle,
    load_source,
    plan_units_again,
)
from debate.core.costs import Budget
from debate.core.events import Event, Subscriber, UnitFailed, UnitFinished
from debate.core.provenance import check_resume, experiment_fingerprint, write_run_spec
from debate.core.store import RunStore, check_run_dir, read_jsonl
from debate.errors import DebateInputError


@dataclass
class JudgeSettings:
    """How every judge of a study runs (the options `debate run` has for the same)."""

    judge_spec: str | None = None
    aggregate: str = "mean"
    resume: bool = False
    force: bool = False
    limit: int | None = None
    concurrency: int = 32
    base_urls: dict[str, str] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Options only one backend takes, by model-string prefix (as `debate run` passes)."""
    prices: str | None = None
    """Price table for costs and `max_cost` (default: $DEBATE_PRICES)."""
    max_cost: float | None = None
    """US dollars the whole study may spend, over all its judges."""
    max_tokens: int | None = None
    """Tokens the whole study may spend, over all its judges."""
    request_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra request fields of openai/ models, by role (as `--model-arg` gives them)."""


def _models(judge: str) -> list[str]:
    models = [part.strip() for part in judge.split(",") if part.strip()]
    if not models:
        raise DebateInputError(f"--judge: '{judge}' names no model")
    return models


def _check_same_study(out: Path, judged_from: dict[str, Any]) -> None:
    """Refuse to resume a directory that holds another judge's (or source's) verdicts."""
    path = out / "spec.yaml"
    if not path.exists():
        return
    try:
        before = (yaml.safe_load(path.read_text("utf-8")) or {}).get("judged_from")
    except (OSError, yaml.YAMLError, AttributeError):
        before = None
    if before != judged_from:
        raise DebateInputError(
            f"--out: {out}: holds a run judged from something else ({before or 'a debate run'}); "
            "choose another --out"
        )


def judge_again(
    source: Source,
    judge: str,
    out: Path,
    settings: JudgeSettings,
    *,
    label: str | None = None,
    subscribers: Sequence[Subscriber] = (),
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Judge `source`'s finished units with `judge` into the run directory `out`; the summary
    (with `stop_reason: budget` when `budget` left units unjudged)."""
    models = _models(judge)
    if budget is not None:
        budget.check_priced(models)
    bundle = judge_bundle(
        source, models, judge_spec=settings.judge_spec, aggregate=settings.aggregate
    )
    role = source.verdict_role
    url = settings.base_urls.get(label or "") or settings.base_urls.get("")
    bindings = JudgeOnlyBindings(
        role,
        models[0],
        base_urls={role: url} if url else {},
        options=settings.model_options,
        request_fields=settings.request_fields,
        backend_options={
            **settings.backend_options,
            # a person's answers are journaled in this judge's own run directory
            "human": {
                **settings.backend_options.get("human", {}),
                "journal_dir": str(out),
                "resume": settings.resume,
            },
        },
    )
    plans = plan_units_again(source, settings.limit)
    judged_from = {
        "run": str(source.directory.resolve()),
        "judge": judge,
        "judge_spec": settings.judge_spec,
        "aggregate": settings.aggregate if len(models) > 1 else None,
    }
    models_now = {**(source.spec.get("models") or {}), role: judge}
    fingerprint = experiment_fingerprint(
        bundle,
        [plan.scenario for plan in plans],
        [(plan.id, plan.seed) for plan in plans],
        int(source.spec.get("seed", 0)),
        models_now,
    )
    differs: list[str] = []
    if settings.resume:
        _check_same_study(out, judged_from)
        differs = check_resume(out, fingerprint, force=settings.force)
    store = RunStore(out, resume=settings.resume)
    write_run_spec(
        out,
        {
            "protocol": bundle.protocol.name,
            "fingerprint": fingerprint,
            "seed": source.spec.get("seed", 0),
            "scenarios": source.spec.get("scenarios"),
            "n_scenarios": len({plan.scenario.id for plan in plans}),
            "models": models_now,
            "judged_from": judged_from,
            "options": {"limit": settings.limit, "concurrency": settings.concurrency},
            "versions": source.spec.get("versions", {}),
            "command": " ".join(sys.argv),
            "resolved": bundle.resolved(),
        },
        resume=settings.resume,
        differs=differs,
        bindings={"models": models_now, "base_urls": {role: url} if url else {}},
    )
    if budget is not None and store.done:
        spent_in(out, budget.meter)  # a resumed judge's budget counts what it spent before
    engine = JudgingEngine(
        bundle,
        bindings,
        store=store,
        concurrency=settings.concurrency,
        subscribers=list(subscribers),
        source=source,
        judge_model=judge,
        budget=budget,
        keep_records=False,
    )

    try:
        engine.run_to_end(plans)
    finally:
        store.close()
    summary = summarize_run(
        out,
        protocol=bundle.protocol.name,
        measures=bundle.protocol.summary,
        extra={"judged_from": judged_from, "stop_reason": engine.stop_reason},
        prices=budget.meter.prices if budget is not None else None,
    )
    write_summary(out, summary)
    return summary


def judge_cell(
    cell: Cell, settings: RunSettings, *, resume: bool, budget: Budget | None = None
) -> float:
    """Make a benchmark cell `judged_from` another by judging that cell's debates again;
    returns the wall seconds it took now."""
    assert cell.judged_from is not None and cell.judge_model is not None
    started = time.perf_counter()
    judge_again(
        load_source(Path(cell.judged_from)),
        cell.judge_model,
        Path(cell.dir),
        JudgeSettings(
            resume=resume, concurrency=settings.concurrency, request_fields=cell.model_args
        ),
        budget=budget,
    )
    return time.perf_counter() - started


def _outcome(record: dict[str, Any]) -> dict[str, Any]:
    """What comparing judges reads of a record (the transcript stays on disk)."""
    final = record.get("final_verdict")
    return {
        "id": record.get("id"),
        "scenario_id": record.get("scenario_id"),
        "correct_index": record.get("correct_index"),
        "correct": record.get("correct"),
        "final_verdict": None if final is None else {"valid": final.get("valid")},
    }


def compare_judges(
    runs: dict[str, list[dict[str, Any]]], *, resamples: int = 2000
) -> dict[str, Any]:
    """Each judge's accuracy on the units every judge scored, and paired differences."""
    shared: set[str] | None = None
    for records in runs.values():
        ids = {str(r["id"]) for r in records if scored(r)}
        shared = ids if shared is None else shared & ids
    common = shared or set()
    judges: dict[str, Any] = {}
    for label, records in runs.items():
        kept = [r for r in records if str(r["id"]) in common and scored(r)]
        judges[label] = accuracy(
            [bool(r.get("correct")) for r in kept],
            clusters=[str(r["scenario_id"]) for r in kept],
            resamples=resamples,
        ).as_dict()
    pairs = []
    for first, second in combinations(runs, 2):
        items = paired_items(runs[first], runs[second], unit_key)
        pairs.append({"a": first, "b": second, **paired_difference(items, resamples=resamples)})
    return {"n_shared_units": len(common), "accuracy": judges, "paired": pairs}


def _fmt(estimate: dict[str, Any] | None, signed: bool = False) -> str:
    if not estimate or estimate.get("value") is None:
        return "n/a"
    sign = "+" if signed else ""
    ci = estimate.get("ci95") or [estimate["value"], estimate["value"]]
    return f"{estimate['value']:{sign}.3f} [{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"


def comparison_tables(comparison: dict[str, Any]) -> list[Table]:
    shared = comparison["n_shared_units"]
    table = Table(title=f"judges on the same {shared} units: accuracy (95% CI)")
    for header in ("judge", "accuracy", "n"):
        table.add_column(header, justify="left" if header == "judge" else "right")
    for label, estimate in comparison["accuracy"].items():
        table.add_row(label, _fmt(estimate), str(estimate["n"]))
    tables = [table]
    if comparison["paired"]:
        paired = Table(title="paired differences a − b (95% paired bootstrap CI over questions)")
        for header in ("a", "b", "a − b", "units", "questions", "only a right", "only b right"):
            paired.add_column(header, justify="left" if header in ("a", "b") else "right")
        for row in comparison["paired"]:
            paired.add_row(
                row["a"],
                row["b"],
                _fmt(row["difference"], signed=True),
                str(row["n"]),
                str(row["questions"]),
                str(row["a_better"]),
                str(row["b_better"]),
            )
        tables.append(paired)
    return tables


def _progress_of(console: Console, label: str, total: int | None) -> tuple[Progress, Subscriber]:
    """A progress bar of one judge's units, and the subscriber that advances it."""
    progress = Progress(
        TextColumn(f"[bold]judge {escape(label)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[failed]} failed"),
        console=console,
    )
    task = progress.add_task("units", total=total, failed=0)
    failed = 0

    def on_event(event: Event) -> None:
        nonlocal failed
        if isinstance(event, UnitFinished):
            progress.advance(task)
        elif isinstance(event, UnitFailed):
            failed += 1
            progress.update(task, advance=1, failed=failed)
            progress.console.print(
                f"{label}: unit {event.unit} failed: {event.error}", markup=False
            )

    return progress, on_event


def judge_study(
    source_dir: Path,
    judges: dict[str, str],
    out: Path,
    settings: JudgeSettings,
    console: Console | None = None,
) -> dict[str, Any]:
    """Judge a run again with every judge (label -> model string) into `out/<label>/`,
    then compare them on the units all of them judged (`out/judges.json`)."""
    import json

    source = load_source(source_dir)
    if not judges:
        raise DebateInputError("--judge: give at least one judge model")
    out.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, Any] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    study = SharedBudget(
        settings.prices,
        settings.max_cost,
        settings.max_tokens,
        [out / label for label in judges],
    )
    for label, judge in judges.items():
        directory = out / label
        budget = study.budget_for(directory) if study.stop_reason == "completed" else None
        if study.active and budget is None:
            if console is not None:
                console.print(f"judge {label}: budget reached, not run", markup=False)
        else:
            if console is not None:
                console.print(
                    f"judge {label} ({judge}) -> {directory}", markup=False, highlight=False
                )
            if console is None:
                summaries[label] = judge_again(
                    source, judge, directory, settings, label=label, budget=budget
                )
            else:
                fresh = settings.limit is None and not settings.resume
                total = len(source.records) if fresh else None
                progress, advance = _progress_of(console, label, total)
                with progress:
                    summaries[label] = judge_again(
                        source,
                        judge,
                        directory,
                        settings,
                        label=label,
                        subscribers=[advance],
                        budget=budget,
                    )
            study.ran(directory, summaries[label])
        if (directory / "transcripts.jsonl").exists():
            runs[label] = [_outcome(record) for record in read_jsonl(check_run_dir(directory))]
            summaries.setdefault(label, summary_of(directory))
    comparison = compare_judges(runs)
    result = {
        "source": str(source.directory.resolve()),
        "judges": {
            label: {
                "model": judges[label],
                "dir": str(out / label),
                "judge_accuracy": summaries[label].get("judge_accuracy"),
                "n_units": summaries[label].get("n_units"),
                "n_invalid": summaries[label].get("n_invalid"),
                "n_failed": summaries[label].get("n_failed"),
                "calls": summaries[label].get("usage", {}).get("calls", 0),
            }
            for label in summaries
        },
        **comparison,
        **study.facts(),
    }
    (out / "judges.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    if console is not None:
        for table in comparison_tables(comparison):
            console.print(table)
        console.print(f"judges: {out / 'judges.json'}", markup=False, highlight=False)
    return result
