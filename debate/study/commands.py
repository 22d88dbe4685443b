"""`debate agreement RUN_DIR RUN_DIR ...`: judges of the same units compared (humans,
models, panels): accuracy with CIs, pairwise agreement and Cohen's kappa, Fleiss' kappa
over annotators, human against model accuracy. `--json` prints the figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


@commands.command("agreement")
def agreement_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories, one judge each.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Compare judges (people and models) that judged the same units."""
    from debate.study.report import compare, load_judges

    try:
        figures = compare(load_judges(run_dirs))
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        print(json.dumps(figures, indent=2))
    else:
        print_figures(figures)


def _estimate(data: dict[str, Any] | None) -> str:
    from debate.analysis.metrics import format_estimate

    return format_estimate(data) if data else "n/a"


def print_figures(figures: dict[str, Any]) -> None:
    from rich.table import Table

    judges = Table(title=f"judges ({figures['common_units']} units judged by all)")
    for column in ("judge", "kind", "units", "accuracy", "on common units", "s / verdict"):
        judges.add_column(column)
    for row in figures["judges"]:
        seconds = row["seconds_per_verdict"]
        judges.add_row(
            row["judge"],
            row["kind"],
            str(row["units"]),
            _estimate(row["accuracy"]),
            _estimate(row["accuracy_common"]),
            f"{seconds:.1f}" if seconds is not None else "",
        )
    console.print(judges)
    if figures["pairs"]:
        pairs = Table(title="pairs of judges on their shared units")
        for column in ("a", "b", "n", "same answer", "Cohen's kappa", "accuracy a - b"):
            pairs.add_column(column)
        for pair in figures["pairs"]:
            same = pair["agreement"]
            pairs.add_row(
                pair["a"],
                pair["b"],
                str(pair["n"]),
                f"{same:.3f}" if same is not None else "n/a",
                _estimate(pair["cohen_kappa"]),
                _estimate(pair["accuracy_difference"]),
            )
        console.print(pairs)
    for key, title in (("fleiss_annotators", "annotators"), ("fleiss_all", "all judges")):
        fleiss = figures[key]
        if fleiss and len(fleiss["judges"]) > 1:
            console.print(
                f"Fleiss' kappa, {title} ({len(fleiss['judges'])}): {_estimate(fleiss)} "
                f"(n={fleiss['n']})",
                markup=False,
                highlight=False,
            )
    versus = figures["humans_vs_models"]
    if versus:
        console.print(
            f"humans vs models on {versus['n']} shared units: human accuracy "
            f"{_estimate(versus['human_accuracy'])}, model accuracy "
            f"{_estimate(versus['model_accuracy'])}, difference {_estimate(versus['difference'])}",
            markup=False,
            highlight=False,
        )
