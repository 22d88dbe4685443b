"""`debate bench`: judge-accuracy sweeps and debater tournaments, with a combined report.

An experiment (`experiments/*.yaml`, or CLI flags) is a grid of protocols × judge models ×
debater models × scenario sets × seeds. Each cell is an ordinary run directory under
`OUT/cells/`, made by `debate.runner.execute_run`, so a cell resumes like `debate run
--resume` and can be inspected with `debate report`. Protocols without speaking roles
(direct-qa, oracle-qa) ignore the debater axis and run once per judge.

An optional `tournament` (`debate.bench.tournament`) rates debater configurations against
each other. The report lands in `OUT/report.md`, `OUT/bench.json` and `OUT/plots/*.png`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console

from debate.bench.budget import ExperimentBudget
from debate.bench.cells import Cell, RunSettings, has_records, load_cell, run_cell, safe_name
from debate.bench.tournament import Tournament, run_tournament
from debate.core.bindings import merge_fields
from debate.core.loading import load_protocol, read_yaml
from debate.errors import DebateInputError, pydantic_lines

Labelled = dict[str, str]


class Binding(BaseModel):
    """A role's model with request fields: `{model: openai/x, extra_body: {...}}`."""

    model_config = ConfigDict(extra="forbid")

    model: str
    extra_body: dict[str, Any] = Field(default_factory=dict)


def _labelled(value: Any) -> Any:
    """`[a, b]` or `{label: a}` → `{label: a}`; list entries label themselves."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return {safe_name(str(item)): str(item) for item in value}
    return value


class Experiment(RunSettings):
    """An `EXPERIMENT.yaml`: the grid, its run options and an optional tournament."""

    model_config = ConfigDict(extra="forbid")

    name: str = "bench"
    description: str = ""
    out: str | None = None
    protocols: list[str] = Field(default_factory=list)
    judges: Labelled = Field(default_factory=lambda: {"scripted": "scripted"})
    debaters: Labelled = Field(default_factory=lambda: {"scripted": "scripted"})
    scenarios: Labelled = Field(default_factory=lambda: {"truthfulqa-sample": "truthfulqa-sample"})
    seeds: list[int] = Field(default_factory=lambda: [0])
    bindings: dict[str, str | Binding] = Field(default_factory=dict)
    tournament: Tournament | None = None
    reuse_debates: bool = True
    """Judges share debates: the first judge's cell generates them, the others judge them
    again (protocols whose only judge role is the verdict role)."""

    @field_validator("judges", "debaters", "scenarios", mode="before")
    @classmethod
    def _label(cls, value: Any) -> Any:
        return _labelled(value)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


def load_experiment(path: Path) -> Experiment:
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines(path, exc)) from exc


def plan_cells(experiment: Experiment, out: Path) -> list[Cell]:
    """Every cell of the grid, in a stable order; checks protocols and bindings first."""
    if not experiment.protocols:
        raise DebateInputError("experiment: protocols: list at least one protocol")
    cells: list[Cell] = []
    for protocol in experiment.protocols:
        bundle = load_protocol(protocol)
        roles = bundle.protocol.roles
        speakers = [name for name, role in roles.items() if role.agent is not None]
        debaters = experiment.debaters if speakers else {"-": ""}
        for judge_label, judge in experiment.judges.items():
            for debater_label, debater in debaters.items():
                bindings = {
                    name: judge if role.judge is not None else debater
                    for name, role in roles.items()
                }
                fields = _request_fields(experiment.extra_body, roles, protocol)
                for key, model in experiment.bindings.items():
                    matched = _matching(key, roles, f"bindings.{key}", protocol)
                    if isinstance(model, Binding):
                        for name in matched:
                            fields[name] = merge_fields(fields.get(name, {}), model.extra_body)
                        model = model.model
                    bindings.update(dict.fromkeys(matched, model))
                for scenario_label, source in experiment.scenarios.items():
                    for seed in experiment.seeds:
                        name = ".".join(
                            [
                                safe_name(bundle.protocol.name),
                                f"judge={judge_label}",
                                f"debaters={debater_label}",
                                scenario_label,
                                f"seed={seed}",
                            ]
                        )
                        cells.append(
                            Cell(
                                protocol=protocol,
                                judge=judge_label,
                                debaters=debater_label,
                                scenarios=scenario_label,
                                seed=seed,
                                bindings=bindings,
                                model_args=fields,
                                source=source,
                                dir=str(out / "cells" / name),
                            )
                        )
    if experiment.reuse_debates:
        _share_debates(cells)
    return cells


def _share_debates(cells: list[Cell]) -> None:
    """Point every judge's cell after the first at the first one's debates, where the
    protocol's verdict role is its only judge role (so nothing else a judge does shapes
    the debates except, as recorded, that role's own questions)."""
    generators: dict[tuple[str, str, str, int], Cell] = {}
    verdict_roles: dict[str, str | None] = {}
    for cell in cells:
        if cell.protocol not in verdict_roles:
            protocol = load_protocol(cell.protocol).protocol
            judges = [name for name, role in protocol.roles.items() if role.judge is not None]
            speakers = any(role.agent is not None for role in protocol.roles.values())
            only = protocol.verdict is not None and judges == [protocol.verdict] and speakers
            verdict_roles[cell.protocol] = protocol.verdict if only else None
        role = verdict_roles[cell.protocol]
        if role is None:
            continue
        key = (cell.protocol, cell.debaters, cell.scenarios, cell.seed)
        first = generators.setdefault(key, cell)
        if first is not cell:
            cell.judged_from = first.dir
            cell.judge_model = cell.bindings[role]


def _matching(key: str, roles: Any, where: str, protocol: str) -> list[str]:
    """Role names a binding key matches (the prefix rule of --model), or an error."""
    matched = [name for name in roles if name == key or name.startswith(key + "_")]
    if not matched:
        raise DebateInputError(f"experiment: {where}: matches no role of {protocol}")
    return matched


def _request_fields(
    extra_body: dict[str, dict[str, Any]], roles: Any, protocol: str
) -> dict[str, dict[str, Any]]:
    """`extra_body` by role name ("" for `*`, every openai/ role)."""
    fields: dict[str, dict[str, Any]] = {}
    for key, value in extra_body.items():
        names = [""] if key == "*" else _matching(key, roles, f"extra_body.{key}", protocol)
        for name in names:
            fields[name] = merge_fields(fields.get(name, {}), value)
    return fields


def _record_count(directory: Path) -> int:
    path = directory / "transcripts.jsonl"
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _cell_wall(directory: Path, measured: float | None) -> float:
    """Wall seconds spent running the cell's units, summed over the invocations that ran some."""
    marker = directory / "bench-cell.json"
    previous = json.loads(marker.read_text("utf-8")).get("wall_s", 0.0) if marker.exists() else 0.0
    total = float(previous) + (measured or 0.0)
    marker.write_text(json.dumps({"wall_s": round(total, 3)}) + "\n", "utf-8")
    return total


# ---------------------------------------------------------------- the whole benchmark


def run_bench(
    experiment: Experiment,
    out: Path,
    *,
    resume: bool = False,
    report_only: bool = False,
    console: Console | None = None,
) -> dict[str, Any]:
    """Run every cell (and the tournament), then write bench.json, report.md and plots."""
    from debate.analysis.plots import write_plots
    from debate.bench.comparisons import debater_calls, judge_differences, protocol_differences
    from debate.bench.judging import judge_cell
    from debate.bench.report import cell_metrics, markdown_report

    console = console or Console()
    cells = plan_cells(experiment, out)
    if not report_only and not resume:
        taken = [c.dir for c in cells if has_records(Path(c.dir))]
        if taken or any((out / "tournament").glob("*/transcripts.jsonl")):
            raise DebateInputError(
                f"--out: {out}: already holds benchmark cells; pass --resume to continue "
                "or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.yaml").write_text(
        yaml.safe_dump(experiment.model_dump(), sort_keys=False), "utf-8"
    )
    results: list[dict[str, Any]] = []
    budget = ExperimentBudget(experiment, cells)
    for number, cell in enumerate(cells, 1):
        directory = Path(cell.dir)
        measured = None
        if not report_only and budget.stop_reason == "completed":
            console.print(
                f"[{number}/{len(cells)}] {cell.protocol} · judge {cell.judge} · debaters "
                f"{cell.debaters} · {cell.scenarios} · seed {cell.seed}",
                highlight=False,
                markup=False,
            )
            before = _record_count(directory)
            left = budget.left_for(directory)
            if left is None:
                console.print("  budget reached: not run", highlight=False)
            elif cell.judged_from is not None:  # the same debates, judged again
                measured = judge_cell(
                    cell, experiment, resume=resume, budget=budget.budget_for(directory)
                )
                budget.ran(directory)
            else:
                measured = run_cell(
                    cell,
                    experiment,
                    resume=resume,
                    limit=experiment.limit,
                    max_cost=left[0],
                    max_tokens=left[1],
                )
                budget.ran(directory)
            if _record_count(directory) == before:
                measured = None  # nothing left to run: keep the time of the runs that did
        if not has_records(directory):
            console.print(f"  no records in {directory}; left out", highlight=False)
            continue
        records, failures = load_cell(directory)
        wall = _cell_wall(directory, measured)
        metrics = cell_metrics(records, resamples=experiment.resamples)
        metrics["n_failed"] = len(failures)
        if not report_only:
            console.print(
                f"  {len(records)} units, accuracy {metrics['accuracy']['value']}, {wall:.1f} s",
                highlight=False,
            )
        results.append(
            {**cell.model_dump(), "metrics": metrics, "wall_s": wall, "_records": records}
        )
    pooled = _pooled(results, experiment.resamples)
    tournament = None
    if experiment.tournament is not None:
        console.print("tournament", highlight=False)
        tournament = run_tournament(
            experiment.tournament,
            experiment,
            out,
            resume=resume,
            run=not report_only and budget.stop_reason == "completed",
            console=console,
        )
    result = {
        "name": experiment.name,
        "description": experiment.description,
        "cells": [{k: v for k, v in r.items() if k != "_records"} for r in results],
        "pooled": pooled,
        "paired": {
            "judges": judge_differences(results, experiment.resamples),
            "protocols": protocol_differences(results, experiment.resamples),
        },
        "debater_calls": debater_calls(results),
        "tournament": tournament,
        **budget.facts(),
    }
    plots = write_plots(result, out / "plots")
    relative = {title: str(Path(path).relative_to(out)) for title, path in plots.items()}
    result["plots"] = relative
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    (out / "report.md").write_text(markdown_report(result, relative), "utf-8")
    _print(result, console)
    console.print(f"report: {out / 'report.md'}", highlight=False, markup=False)
    return result


def _pooled(results: list[dict[str, Any]], resamples: int) -> list[dict[str, Any]]:
    """Metrics per protocol × judge over all its cells (questions clustered across cells)."""
    from debate.bench.report import cell_metrics

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        tagged = [
            {
                **record,
                "bench_cell": result["dir"],
                "bench_cluster": f"{result['scenarios']}/{record['scenario_id']}",
            }
            for record in result["_records"]
        ]
        groups.setdefault((result["protocol"], result["judge"]), []).extend(tagged)
    return [
        {
            "protocol": protocol,
            "judge": judge,
            "metrics": cell_metrics(records, resamples=resamples),
        }
        for (protocol, judge), records in groups.items()
    ]


def _print(result: dict[str, Any], console: Console) -> None:
    from debate.bench.comparisons import paired_table
    from debate.bench.report import cells_table, pooled_table, ratings_table

    console.print(pooled_table(result["pooled"], "protocol × judge: judge metrics (95% CI)"))
    if len(result["cells"]) > len(result["pooled"]):
        console.print(cells_table(result["cells"], "cells"))
    paired = result.get("paired") or {}
    if paired.get("judges"):
        title = "judges on the same debates: paired accuracy differences"
        console.print(paired_table(paired["judges"], ["protocol", "a", "b"], title))
    if paired.get("protocols"):
        title = "protocols on the same questions: paired accuracy differences"
        keys = ["judge", "debaters", "a", "b"]
        console.print(paired_table(paired["protocols"], keys, title))
    calls = result.get("debater_calls")
    if calls:
        console.print(
            f"debater calls: {calls['made']} made; {calls['without_reuse']} without shared debates",
            highlight=False,
        )
    if result.get("tournament"):
        console.print(ratings_table(result["tournament"]["ratings"], "debater ratings (95% CI)"))
