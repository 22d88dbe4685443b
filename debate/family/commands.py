"""`debate family-report RUN_DIR [--baseline RUN_DIR] [--json]`: the debate family's report.

For a run of `mad`, `society-of-minds`, `socrasynth` or any protocol whose units record
`state.final_answer`: accuracy of the final answer (95% CI), answer statuses (ties and
missing answers never count as correct), rounds used, how often an early stop fired,
agreement over rounds, schedules and ratings; with `--baseline` (e.g. a `single-agent`
run on the same scenarios), the baseline's accuracy and the paired difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


@commands.command("family-report")
def family_report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    baseline: Annotated[
        Path | None, typer.Option(help="A baseline run directory (e.g. single-agent).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    write: Annotated[bool, typer.Option(help="Also write RUN_DIR/family-report.json.")] = True,
) -> None:
    """Final-answer accuracy vs a baseline, rounds, early stops and agreement over rounds."""
    from debate.family.report import family_summary, load_family_run, render_family_summary

    try:
        records = load_family_run(run_dir)
        base = load_family_run(baseline) if baseline is not None else None
    except DebateInputError as exc:
        fail(*exc.lines)
        return
    summary = family_summary(records, base)
    if write:
        (run_dir / "family-report.json").write_text(json.dumps(summary, indent=2) + "\n")
    if json_output:
        console.print_json(json.dumps(summary))
        return
    for table in render_family_summary(summary):
        console.print(table)
