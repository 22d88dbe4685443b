"""LOGICOM commands: `logicom-stats`, `fallacy-stats` and `fallacy-detection`.

- `debate logicom-stats PATH [--json]`: convinced rates, success histograms, all-repeats
  successes and the fallacy-vs-logical headline, for a LOGICOM run directory or the
  authors' outcome CSV.
- `debate fallacy-stats PATH [--json]`: the nine-class distribution of fallacy labels in a
  `fallacy_turns.csv` or in a LOGICOM run's helper turns; for a `fallacy-detection` run,
  the judge's accuracy per class with 95% CIs.
- `debate fallacy-detection --data fallacy_turns.csv ...`: writes the probe's items as
  JSONL into the run directory, runs the `fallacy-detection` protocol on them as
  `debate run` would, and prints the per-class accuracy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from debate.core.console import console, fail, parse_bindings
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


@commands.command("logicom-stats")
def logicom_stats_command(
    path: Annotated[Path, typer.Argument(help="A LOGICOM run directory or debate_outcomes.csv.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the statistics as JSON.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed for the CIs.")] = 0,
) -> None:
    """Per debater model and condition: convinced rate (95% CI), success histogram,
    claims convinced in every repeat, fallacy-vs-logical increase, stop reasons."""
    from debate.logicom.stats import logicom_stats, render_logicom_stats

    try:
        stats = logicom_stats(path, seed=seed)
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        console.print_json(json.dumps(stats))
        return
    for table in render_logicom_stats(stats):
        console.print(table)


def _distribution_table(title: str, counts: dict[str, int]) -> Table:
    total = sum(counts.values()) or 1
    table = Table(title=title)
    table.add_column("class")
    table.add_column("n", justify="right")
    table.add_column("share", justify="right")
    for cls, n in counts.items():
        table.add_row(cls, str(n), f"{n / total:.1%}")
    return table


def _detection_table(stats: dict[str, Any]) -> Table:
    table = Table(title="fallacy detection: judge accuracy per class")
    table.add_column("class")
    table.add_column("n", justify="right")
    table.add_column("accuracy [95% CI]", justify="right")
    table.add_column("most often called")
    rows = [*stats["per_class"].items(), ("all", stats["accuracy"])]
    for cls, est in rows:
        if est["value"] is None:
            shown = "n/a"
        else:
            shown = f"{est['value']:.3f} [{est['ci95'][0]:.3f}, {est['ci95'][1]:.3f}]"
        confusion = stats["confusion"].get(cls, {})
        top = max(confusion, key=lambda k: confusion[k]) if confusion else ""
        table.add_row(cls, str(est["n"]), shown, top)
    table.caption = f"{stats['invalid']} invalid verdicts (counted as wrong)"
    return table


def fallacy_stats(path: Path, *, seed: int = 0) -> dict[str, Any]:
    """What `debate fallacy-stats` reports for a CSV or a run directory."""
    from debate.core.store import load_run
    from debate.logicom.fallacies import detection_stats, fallacy_distribution, read_fallacy_turns
    from debate.logicom.stats import read_run

    if path.is_file():
        rows = read_fallacy_turns(path)
        return {
            "source": "fallacy-turns-csv",
            "distribution": fallacy_distribution(row["fallacy"] for row in rows),
            "n": len(rows),
            "distinct_labels": len({row["fallacy"] for row in rows}),
        }
    records, _ = load_run(path)
    if any(record.get("protocol") == "fallacy-detection" for record in records):
        return {"source": "fallacy-detection-run", **detection_stats(records, seed=seed)}
    labels = [label for debate in read_run(path) for label in debate.fallacies]
    return {"source": "logicom-run", "distribution": fallacy_distribution(labels), "n": len(labels)}


@commands.command("fallacy-stats")
def fallacy_stats_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="fallacy_turns.csv, a LOGICOM run, or a fallacy-detection run directory."
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the statistics as JSON.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Bootstrap seed for the CIs.")] = 0,
) -> None:
    """Fallacy class distribution (labels or helper turns), or judge accuracy per class."""
    try:
        stats = fallacy_stats(path, seed=seed)
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        console.print_json(json.dumps(stats))
    elif "per_class" in stats:
        console.print(_detection_table(stats))
    else:
        console.print(
            _distribution_table(
                f"fallacy classes in {path} (n={stats['n']})", stats["distribution"]
            )
        )


@commands.command("fallacy-detection")
def fallacy_detection_command(
    data: Annotated[Path, typer.Option("--data", help="LOGICOM fallacy_turns.csv.")],
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="judge=MODEL or MODEL.")
    ] = None,
    per_class: Annotated[
        int | None, typer.Option(help="At most N arguments per class (seeded sample).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling and run seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    concurrency: Annotated[int, typer.Option(help="Units in flight at once.")] = 32,
    cache: Annotated[bool, typer.Option(help="Cache model calls on disk.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the statistics as JSON.")
    ] = False,
) -> None:
    """Benchmark a judge: name the fallacy of each logged argument; accuracy per class."""
    from debate.core.store import load_run
    from debate.logicom.fallacies import detection_items, detection_stats
    from debate.runner import RunOptions, execute_run

    try:
        if per_class is not None and per_class < 1:
            raise DebateInputError("--per-class: must be at least 1")
        items = detection_items(data, per_class=per_class, seed=seed)
        directory = out or Path("runs") / f"fallacy-detection-{time.strftime('%Y%m%d-%H%M%S')}"
        directory.mkdir(parents=True, exist_ok=True)
        scenarios = directory / "fallacy-items.jsonl"
        scenarios.write_text(
            "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), "utf-8"
        )
        options = RunOptions(
            protocol="fallacy-detection",
            scenarios=str(scenarios),
            bindings=parse_bindings(model or [], "--model"),
            seed=seed,
            out=directory,
            resume=resume,
            concurrency=concurrency,
            swap=False,
            cache=cache,
            show=False,
        )
        execute_run(options, console)
        records, _ = load_run(directory)
        stats = detection_stats(records, seed=seed)
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        console.print_json(json.dumps(stats))
    else:
        console.print(_detection_table(stats))
