"""PBT commands: `export prefs`, `show-tree`, `pbt-eval` and `train dpo`.

- `debate export prefs RUN_DIR --out prefs.jsonl [--balanced/--no-balanced] [--format jsonl|hf]`
- `debate show-tree RUN_DIR --unit ID [--png FILE]`
- `debate pbt-eval RUN_DIR [--json]`: the flipflop / pbt-balanced / team-debate report.
- `debate train dpo --data prefs.jsonl --model MODEL --out DIR [--lora]
  [--report-to none|tensorboard|wandb|trackio]`
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


@commands.command("prefs", group="export")
def export_prefs(
    run_dir: Annotated[Path, typer.Argument(help="A pbt-tree run directory.")],
    out: Annotated[Path, typer.Option(help="Output JSONL file (or folder with --format hf).")],
    balanced: Annotated[
        bool, typer.Option(help="Keep min(#resist, #accept) pairs of each code per split.")
    ] = True,
    file_format: Annotated[
        str, typer.Option("--format", help="jsonl, or hf (datasets.DatasetDict save_to_disk).")
    ] = "jsonl",
    seed: Annotated[int, typer.Option(help="Seed of the question split and of balancing.")] = 0,
    threshold: Annotated[float, typer.Option(help="Keep siblings with |Δscore|/max > this.")] = 0.5,
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Only pairs at levels of this kind (responder, persuader). Repeatable."),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Train, validation and test fractions of the questions.")
    ] = "0.7,0.15,0.15",
) -> None:
    """Preference pairs from dialogue trees as TRL conversational preference rows."""
    from debate.pbt.evaluation import counts_table, export_preferences

    try:
        if file_format not in ("jsonl", "hf"):
            raise DebateInputError(f"--format: '{file_format}': choose jsonl or hf")
        ratios = parse_split(split)
        chosen: Literal["jsonl", "hf"] = "hf" if file_format == "hf" else "jsonl"
        counts = export_preferences(
            run_dir,
            out,
            balanced=balanced,
            file_format=chosen,
            seed=seed,
            threshold=threshold,
            kinds=kind or None,
            ratios=ratios,
        )
    except DebateInputError as exc:
        fail(*exc.lines)
    console.print(counts_table(counts))
    dropped = counts["dropped"]
    if any(dropped.values()):
        console.print(
            f"left out: {dropped['chosen_wrong']} pairs whose chosen turn holds a wrong answer, "
            f"{dropped['chosen_ungraded']} whose chosen turn is ungraded",
            markup=False,
        )
    for warning in counts["warnings"]:
        console.print(f"warning: {warning}", markup=False, style="yellow")
    console.print(f"{counts['n_rows']} rows from {counts['trees']} trees -> {out}", markup=False)


def parse_split(text: str) -> tuple[float, float, float]:
    """`0.7,0.15,0.15` -> (0.7, 0.15, 0.15); one clear line when it is not three
    non-negative fractions summing to 1."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise DebateInputError(
            f"--split: '{text}': give three fractions summing to 1, e.g. 0.7,0.15,0.15"
        )
    return (values[0], values[1], values[2])


@commands.command("show-tree")
def show_tree(
    run_dir: Annotated[Path, typer.Argument(help="A pbt-tree run directory.")],
    unit: Annotated[str, typer.Option(help="Unit id or scenario id (e.g. truthfulqa-0).")],
    png: Annotated[Path | None, typer.Option(help="Also write a picture of the tree.")] = None,
) -> None:
    """Draw one dialogue tree: agent, prompt, extracted answer, correct or not, score."""
    from debate.pbt.evaluation import draw_tree, load_trees, tree_view

    try:
        trees = load_trees(run_dir)
    except DebateInputError as exc:
        fail(*exc.lines)
    matches = [t for r, t in trees if unit in (r["id"], r["scenario_id"])]
    if not matches:
        known = ", ".join(r["id"] for r, _ in trees[:10])
        fail(f"--unit: '{unit}' is not a unit of {run_dir} (e.g. {known})")
    console.print(tree_view(matches[0]))
    if png is not None:
        draw_tree(matches[0], png)
        console.print(f"picture: {png}", markup=False)


@commands.command("pbt-eval")
def pbt_eval(
    run_dir: Annotated[Path, typer.Argument(help="A flipflop, pbt-balanced or team-debate run.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    grader: Annotated[
        str | None,
        typer.Option(help="Grade the answers with this model (any model string) instead."),
    ] = None,
) -> None:
    """Report a PBT evaluation run; also written to RUN_DIR/pbt_eval.json (or, with
    --grader, RUN_DIR/pbt_eval.<model>.json)."""
    from debate.core.store import load_run
    from debate.pbt.evaluation import evaluate, report_table

    try:
        records, _ = load_run(run_dir)
        if grader:
            regraded = asyncio.run(grade_with(grader, records))
        report = evaluate(records)
    except DebateInputError as exc:
        fail(*exc.lines)
    name = "pbt_eval.json"
    if grader:
        report["grader"] = {"model": grader, "answers": regraded}
        name = f"pbt_eval.{re.sub(r'[^A-Za-z0-9._-]+', '_', grader)}.json"
    (run_dir / name).write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        console.print(report_table(report))


async def grade_with(model_string: str, records: list[dict[str, Any]]) -> int:
    """Re-grade the run's answers with a model; returns how many were graded."""
    from debate.analysis.model_grading import model_grader, regrade
    from debate.models import create_model

    model = create_model(model_string)
    try:
        return await regrade(records, model_grader(model))
    finally:
        await model.aclose()


@commands.command("dpo", group="train")
def train_dpo_command(
    data: Annotated[Path, typer.Option(help="prefs.jsonl or a saved DatasetDict folder.")],
    model: Annotated[str, typer.Option(help="local, hf/<path> or a checkpoint folder.")] = "local",
    out: Annotated[Path, typer.Option(help="Where to save the trained model.")] = Path("runs/dpo"),
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (peft) instead.")] = False,
    max_steps: Annotated[int, typer.Option(help="Stop after N steps (-1: by epochs).")] = -1,
    epochs: Annotated[float, typer.Option(help="Training epochs.")] = 1.0,
    learning_rate: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 5e-6,
    beta: Annotated[float, typer.Option(help="DPO beta.")] = 0.1,
    batch_size: Annotated[int, typer.Option(help="Per-device batch size.")] = 2,
    max_length: Annotated[int, typer.Option(help="Max tokens of prompt + reply.")] = 1024,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    report_to: Annotated[
        str, typer.Option(help="Training log: none, tensorboard (OUT/tensorboard), wandb, trackio.")
    ] = "none",
) -> None:
    """Direct preference optimisation with TRL's DPOTrainer on exported preference rows."""
    from debate.pbt.dpo import DPOOptions, train_dpo

    try:
        result = train_dpo(
            DPOOptions(
                data=data,
                model=model,
                out=out,
                lora=lora,
                max_steps=max_steps,
                epochs=epochs,
                learning_rate=learning_rate,
                beta=beta,
                batch_size=batch_size,
                max_length=max_length,
                seed=seed,
                report_to=report_to,
            )
        )
    except ImportError as exc:
        fail(f"train dpo: needs the train extra ({exc.name}): pip install 'debate-lab[train]'")
    except DebateInputError as exc:
        fail(*exc.lines)
    metrics = result["metrics"]
    console.print(
        f"DPO: {result['steps']} steps on {result['train_rows']} rows ({result['device']}), "
        f"train loss {metrics.get('train_loss', float('nan')):.4f}; model saved to {result['out']}",
        markup=False,
    )
