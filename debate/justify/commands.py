"""`debate train justifiable` and `debate evidence-cases` (evidence debates).

`debate train justifiable --lambda 0.0,0.25,0.5,0.75,1.0 --seeds 5 --out DIR [--quick]`
runs the lambda sweep of `debate.justify.experiment` on the bundled synthetic decision
environment (CPU, minutes) and writes results.json, table.txt, report.md,
justifiable.png, judges/*.pt and debates.jsonl into DIR. torch is imported only when
the command runs.

`debate evidence-cases --out DIR --cases 50` writes synthetic cases (cases.jsonl) and the
proxy judge they reference (proxy.pt) for `debate run evidence-debate --scenarios
DIR/cases.jsonl`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable

commands = CommandTable()


@commands.command("justifiable", group="train")
def justifiable_command(
    lambdas: Annotated[
        str, typer.Option("--lambda", help="Comma-separated lambdas in [0, 1] (0 = baseline).")
    ] = "0.0,0.25,0.5,0.75,1.0",
    seeds: Annotated[int, typer.Option(help="Independent seeds; CIs are over seeds.")] = 5,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/justifiable"),
    quick: Annotated[bool, typer.Option(help="Small sizes for a smoke run (seconds).")] = False,
    reward: Annotated[
        str, typer.Option(help="r_debate from the judge margin: zero_sum, prob_diff or log_score.")
    ] = "zero_sum",
) -> None:
    """Train justifiable policies with r = (1 - lambda) r_env + lambda r_debate and report."""
    from debate.justify.experiment import parse_lambdas, train_justifiable
    from debate.justify.report import rich_table

    try:
        parsed = parse_lambdas(lambdas)
    except ValueError as error:
        fail(str(error))
        return
    if seeds < 1:
        fail("--seeds: must be at least 1")
    if reward not in ("zero_sum", "prob_diff", "log_score"):
        fail(f"--reward: expected zero_sum, prob_diff or log_score, got '{reward}'")
    results = train_justifiable(
        parsed,
        seeds,
        out,
        quick=quick,
        progress=console.log,
        reward_mode=reward,  # type: ignore[arg-type]
    )
    console.print(rich_table(results["summary"]))
    console.print(f"wrote {out}/results.json, table.txt, report.md, justifiable.png, debates.jsonl")


@commands.command("evidence-cases")
def evidence_cases_command(
    out: Annotated[Path, typer.Option(help="Folder for cases.jsonl and proxy.pt.")] = Path(
        "runs/evidence"
    ),
    cases: Annotated[int, typer.Option(help="Number of cases.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the cases and the judge.")] = 0,
    learned_iterations: Annotated[
        int, typer.Option(help="Also train a learned arguer (self-play iterations; 0 = none).")
    ] = 0,
) -> None:
    """Write synthetic cases and their proxy judge for `debate run evidence-debate`."""
    from debate.justify.bridge import write_cases

    if cases < 1:
        fail("--cases: must be at least 1")
    cases_path, judge_path = write_cases(
        out, cases=cases, seed=seed, arguer_iterations=learned_iterations
    )
    console.print(f"wrote {cases_path} and {judge_path}")
    console.print(f"next: debate run evidence-debate --scenarios {cases_path} --model scripted")
