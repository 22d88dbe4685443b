"""`debate bench` (sweeps and tournaments) and `debate replay` (NYU human debates to a model judge).

- `debate bench [EXPERIMENT.yaml] [--protocol P ...] [--judge M ...] [--debater M ...]
  [--scenarios S ...] [--seed N ...] [--limit N] [--out DIR] [--resume] [--report-only]`:
  flags replace the corresponding lists of the YAML (or make the whole experiment).
- `debate replay NYU_PATH --judge MODEL|none [--included-in-paper] [--status complete]
  [--swap] [--json]`: human vs model judge accuracy on the recorded debates and consultancies.
- `debate judge RUN_DIR --judge [LABEL=]MODEL[,MODEL...] [...] --out DIR`: judge a
  finished run's debates again, one run directory per judge, compared on the same units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from debate.core.console import PricesOption, console, fail
from debate.core.costs import check_budget
from debate.core.registry import CommandTable
from debate.errors import EXIT_BUDGET, DebateInputError

commands = CommandTable()


def _labelled(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    from debate.bench.experiment import safe_name

    pairs = {}
    for value in values:
        label, sep, target = value.partition("=")
        if sep and label and target and "/" not in label:
            pairs[label] = target
        else:
            pairs[safe_name(value)] = value
    return pairs


def _person(value: str, annotator: str | None) -> str:
    """`human` (or `LABEL=human`) becomes `human/NAME` with `--annotator NAME`."""
    label, sep, model = value.rpartition("=")
    if annotator is None or model != "human":
        return value
    from debate.models.human import check_annotator

    return f"{label}{sep}human/{check_annotator(annotator)}"


@commands.command("bench")
def bench_command(
    experiment: Annotated[
        Path | None, typer.Argument(help="EXPERIMENT.yaml (optional when flags say it all).")
    ] = None,
    protocol: Annotated[
        list[str] | None, typer.Option("--protocol", "-p", help="Protocol. Repeatable.")
    ] = None,
    judge: Annotated[
        list[str] | None,
        typer.Option("--judge", "-j", help="Judge model, or LABEL=MODEL. Repeatable."),
    ] = None,
    debater: Annotated[
        list[str] | None,
        typer.Option("--debater", "-d", help="Debater model, or LABEL=MODEL. Repeatable."),
    ] = None,
    scenarios: Annotated[
        list[str] | None,
        typer.Option("--scenarios", "-s", help="Scenario set or data path. Repeatable."),
    ] = None,
    seed: Annotated[list[int] | None, typer.Option(help="Seed. Repeatable.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use the first N scenarios.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Benchmark folder (default runs/<name>).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the cells already in --out.")] = False,
    report_only: Annotated[
        bool, typer.Option(help="Rebuild the report from the cells in --out; run nothing.")
    ] = False,
    concurrency: Annotated[int | None, typer.Option(help="Units in flight per cell.")] = None,
    executor: Annotated[
        str | None, typer.Option(help="local, or ray to shard each cell over a Ray cluster.")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    workers: Annotated[int | None, typer.Option(help="Ray worker actors.")] = None,
    gpus_per_worker: Annotated[
        float | None, typer.Option(help="GPUs reserved by each Ray worker.")
    ] = None,
    prices: PricesOption = None,
    max_cost: Annotated[
        float | None,
        typer.Option(help="US dollars the whole experiment may spend (all cells together)."),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens the whole experiment may spend (all cells).")
    ] = None,
) -> None:
    """Run a grid of protocols × judges × debaters × scenario sets × seeds and report it."""
    from debate.bench.experiment import Experiment, load_experiment, run_bench

    try:
        base = load_experiment(experiment) if experiment is not None else Experiment()
        updates: dict[str, object] = {}
        for key, value in (
            ("protocols", protocol or None),
            ("judges", _labelled(judge)),
            ("debaters", _labelled(debater)),
            ("scenarios", _labelled(scenarios)),
            ("seeds", seed or None),
            ("limit", limit),
            ("concurrency", concurrency),
            ("executor", executor),
            ("ray_address", ray_address),
            ("workers", workers),
            ("gpus_per_worker", gpus_per_worker),
            ("prices", str(prices) if prices is not None else None),
            ("max_cost", max_cost),
            ("max_tokens", max_tokens),
        ):
            if value is not None:
                updates[key] = value
        chosen = Experiment.model_validate({**base.model_dump(), **updates})
        if limit is not None and limit < 1:
            raise DebateInputError("--limit: must be at least 1")
        folder = out or Path(chosen.out or Path("runs") / chosen.name)
        result = run_bench(chosen, folder, resume=resume, report_only=report_only, console=console)
    except DebateInputError as exc:
        fail(*exc.lines)
    if result.get("stop_reason") == "budget":
        console.print(
            "budget reached: cells left unrun; continue with --resume and a larger budget",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_BUDGET)


@commands.command("replay")
def replay_command(
    path: Annotated[Path, typer.Argument(help="NYU debate folder (with official/) or one file.")],
    judge: Annotated[
        str, typer.Option("--judge", "-j", help="Model for the judge, or 'none' (humans only).")
    ] = "none",
    judge_spec: Annotated[str, typer.Option(help="Judge declaration the model plays.")] = (
        "qa-judge"
    ),
    included_in_paper: Annotated[
        bool, typer.Option("--included-in-paper", help="Only debates used in the paper.")
    ] = False,
    status: Annotated[
        str | None, typer.Option(help="Only this status: complete, inprogress, ...")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use the first N debates.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory for the model judge.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    concurrency: Annotated[int, typer.Option(help="Units in flight at once.")] = 32,
    swap: Annotated[
        bool,
        typer.Option(
            "--swap/--no-swap",
            help="Judge both answer orders; report swap-averaged accuracy and disagreement.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Replay recorded NYU debates and consultancies to a model judge; compare with humans."""
    from debate.bench.replay import ReplayOptions, print_replay, replay

    try:
        result = replay(
            ReplayOptions(
                path=path,
                judge=None if judge.lower() == "none" else judge,
                judge_spec=judge_spec,
                included_in_paper=included_in_paper,
                status=status,
                limit=limit,
                out=out,
                resume=resume,
                concurrency=concurrency,
                swap=swap,
            ),
            None if json_output else console,
        )
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        print(json.dumps(result, indent=2))
    else:
        print_replay(result, console)


@commands.command("judge")
def judge_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished (or partly finished) run directory.")],
    judge: Annotated[
        list[str],
        typer.Option(
            "--judge",
            "-j",
            help="Judge model, or LABEL=MODEL; MODEL,MODEL,... is a panel. Repeatable.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for one run directory per judge.")],
    judge_spec: Annotated[
        str | None,
        typer.Option(help="Judge declaration to use instead of the recorded one (may be a panel)."),
    ] = None,
    aggregate: Annotated[
        str, typer.Option(help="How a MODEL,MODEL,... panel decides: mean or majority.")
    ] = "mean",
    limit: Annotated[
        int | None, typer.Option(help="Only the units of the run's first N scenarios.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the judges' runs in --out.")] = False,
    force: Annotated[
        bool, typer.Option(help="With --resume: continue although the units or judge changed.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Units in flight at once.")] = 32,
    max_connections: Annotated[
        int | None, typer.Option(help="Concurrent requests per model backend.")
    ] = None,
    model_base_url: Annotated[
        list[str] | None,
        typer.Option(help="Server for openai/ judges: URL, or LABEL=URL. Repeatable."),
    ] = None,
    annotator: Annotated[
        str | None, typer.Option(help="Name of the person judging (with --judge human).")
    ] = None,
    human_port: Annotated[
        int, typer.Option(help="Port of the human-judge page on 127.0.0.1 (0: any free one).")
    ] = 8321,
    prices: PricesOption = None,
    max_cost: Annotated[
        float | None, typer.Option(help="US dollars all the judges together may spend.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens all the judges together may spend.")
    ] = None,
) -> None:
    """Judge a finished run's debates again with other judges: no debater calls."""
    from debate.bench.judging import JudgeSettings, judge_study

    try:
        if limit is not None and limit < 1:
            raise DebateInputError("--limit: must be at least 1")
        if concurrency < 1:
            raise DebateInputError("--concurrency: must be at least 1")
        if aggregate not in ("mean", "majority"):
            raise DebateInputError(f"--aggregate: '{aggregate}' is not mean or majority")
        urls: dict[str, str] = {}
        for value in model_base_url or []:
            label, sep, url = value.partition("=")
            urls[label if sep else ""] = url if sep else value
        judges = _labelled([_person(value, annotator) for value in judge]) or {}
        options = {} if max_connections is None else {"max_connections": max_connections}
        settings = JudgeSettings(
            judge_spec=judge_spec,
            aggregate=aggregate,
            resume=resume,
            force=force,
            limit=limit,
            concurrency=concurrency,
            base_urls=urls,
            model_options=options,
            backend_options={"human": {"port": human_port}},
            prices=str(prices) if prices is not None else None,
            max_cost=max_cost,
            max_tokens=max_tokens,
        )
        check_budget(max_cost, max_tokens)
        result = judge_study(run_dir, judges, out, settings, console)
    except DebateInputError as exc:
        fail(*exc.lines)
    if result.get("stop_reason") == "budget":
        console.print(
            "budget reached: units or judges left; continue with --resume and a larger budget",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_BUDGET)
