"""`debate serve-reward` (the OpenRLHF/verl reward server) and `debate train grpo`.

- `debate serve-reward [--protocol debate] --judge MODEL --debater MODEL [--reward zero_sum]
  [--lambda 1.0] [--labels alternative|gold] [--alternative other|fixed:TEXT|baseline:MODEL]
  [--host 127.0.0.1] [--port 5000] [--workers 1] [--tokenizer DIR] [--store DIR]`
- `debate train grpo --policy MODEL --scenarios S --judge MODEL --debater MODEL
  [--lambda 0.5] [--reward zero_sum] --out DIR [--steps N] [--batch-size N]
  [--generations N] [--learning-rate X] [--config KEY=VALUE ...]
  [--report-to none|tensorboard|wandb|trackio]`
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


ProtocolOption = Annotated[
    str, typer.Option("--protocol", "-p", help="Protocol judging the answers (name or YAML).")
]
JudgeOption = Annotated[str, typer.Option("--judge", "-j", help="Model of the judge role(s).")]
DebaterOption = Annotated[
    str, typer.Option("--debater", "-d", help="Model of the arguing role(s).")
]
ModeOption = Annotated[str, typer.Option("--reward", help="zero_sum, prob_diff or log_score.")]
AlternativeOption = Annotated[
    str,
    typer.Option(help="other (from the data), fixed:TEXT, or baseline:MODEL (its answer)."),
]
ReportToOption = Annotated[
    str,
    typer.Option(
        help="Training log: none, tensorboard (DIR/tensorboard), wandb or trackio.",
    ),
]
SpeechTokensOption = Annotated[
    int | None, typer.Option(help="Cap every argument at N tokens (cheaper debates).")
]


def _settings(**values: Any) -> Any:
    from pydantic import ValidationError

    from debate.errors import pydantic_lines
    from debate.rl.reward import RewardSettings

    try:
        return RewardSettings(**values)
    except ValidationError as exc:
        raise DebateInputError(*pydantic_lines("options", exc)) from exc


@commands.command("serve-reward")
def serve_reward(
    protocol: ProtocolOption = "debate",
    judge: JudgeOption = "local",
    debater: DebaterOption = "local",
    reward: ModeOption = "zero_sum",
    lam: Annotated[
        float, typer.Option("--lambda", help="Weight of the debate reward (1 - λ: correctness).")
    ] = 1.0,
    labels: Annotated[
        str, typer.Option(help="Plain-string labels are the 'alternative' or the 'gold' answer.")
    ] = "alternative",
    alternative: AlternativeOption = "other",
    speech_tokens: SpeechTokensOption = None,
    concurrency: Annotated[int, typer.Option(help="Debate units in flight per request.")] = 256,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the debates.")] = 0,
    workers: Annotated[
        int, typer.Option(help="Server processes sharing the port (scripted/remote models).")
    ] = 1,
    store: Annotated[
        Path | None, typer.Option(help="Keep every judged debate in this run directory.")
    ] = None,
    tokenizer: Annotated[
        Path | None,
        typer.Option(help="The policy's tokenizer folder: strip exactly its special tokens."),
    ] = None,
) -> None:
    """Serve debate rewards over HTTP: POST /get_reward (OpenRLHF schema), GET /health."""
    from debate.rl.server import serve

    try:
        if not 0 <= port <= 65535:
            raise DebateInputError(f"--port: {port}: expected a port between 0 and 65535")
        if workers < 1:
            raise DebateInputError("--workers: must be at least 1")
        settings = _settings(
            protocol=protocol,
            judge=judge,
            debater=debater,
            mode=reward,
            lam=lam,
            alternative=alternative,
            speech_tokens=speech_tokens,
            concurrency=concurrency,
            seed=seed,
            store=store,
        )
        serve(
            settings,
            host=host,
            port=port,
            label_kind=labels,
            workers=workers,
            tokenizer=str(tokenizer) if tokenizer else None,
        )
    except DebateInputError as exc:
        fail(*exc.lines)
    except OSError as exc:  # e.g. the port is taken
        fail(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror or exc})")


def _config_values(pairs: list[str]) -> dict[str, Any]:
    import yaml

    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise DebateInputError(f"--config: '{pair}': expected KEY=VALUE")
        values[key.strip()] = yaml.safe_load(raw)
    return values


@commands.command("grpo", group="train")
def train_grpo_command(
    policy: Annotated[
        str, typer.Option(help="Policy to train: local, hf/<checkpoint dir> or a directory.")
    ] = "local",
    scenarios: Annotated[
        str, typer.Option("--scenarios", "-s", help="Scenario set, YAML or data path.")
    ] = "truthfulqa-sample",
    limit: Annotated[int | None, typer.Option(help="Use the first N scenarios.")] = None,
    protocol: ProtocolOption = "debate",
    judge: JudgeOption = "local",
    debater: DebaterOption = "local",
    lam: Annotated[
        float, typer.Option("--lambda", help="r = (1 - λ)·correctness + λ·debate reward.")
    ] = 0.5,
    reward: ModeOption = "zero_sum",
    alternative: AlternativeOption = "other",
    speech_tokens: SpeechTokensOption = None,
    out: Annotated[Path, typer.Option(help="Output folder (policy/, metrics.jsonl).")] = Path(
        "runs/grpo"
    ),
    steps: Annotated[int, typer.Option(help="Optimiser steps (GRPOConfig.max_steps).")] = 2,
    batch_size: Annotated[
        int, typer.Option(help="Completions per device per step (a multiple of --generations).")
    ] = 4,
    generations: Annotated[int, typer.Option(help="Completions per prompt.")] = 2,
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = 1e-6,
    max_completion_length: Annotated[int, typer.Option(help="Tokens per completion.")] = 32,
    config: Annotated[
        list[str] | None, typer.Option(help="Other GRPOConfig field, KEY=VALUE. Repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of training and debates.")] = 0,
    keep_debates: Annotated[
        bool, typer.Option(help="Keep every judged debate in DIR/debates (a run directory).")
    ] = False,
    report_to: ReportToOption = "none",
) -> None:
    """Train a policy with TRL GRPO on the debate reward mixed with correctness."""
    try:
        from debate.rl.grpo import GrpoOptions, train_grpo
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        fail(f"train grpo needs the train extra ({exc.name}): pip install 'debate-lab[train]'")
        return
    try:
        if limit is not None and limit < 1:
            raise DebateInputError("--limit: must be at least 1")
        if min(steps, batch_size, generations, max_completion_length) < 1:
            raise DebateInputError(
                "--steps, --batch-size, --generations, --max-completion-length: must be >= 1"
            )
        settings = _settings(
            protocol=protocol,
            judge=judge,
            debater=debater,
            mode=reward,
            lam=lam,
            alternative=alternative,
            speech_tokens=speech_tokens,
            seed=seed,
            store=out / "debates" if keep_debates else None,
        )
        options = GrpoOptions(
            policy=policy,
            scenarios=scenarios,
            limit=limit,
            reward=settings,
            out=out,
            steps=steps,
            batch_size=batch_size,
            generations=generations,
            learning_rate=learning_rate,
            max_completion_length=max_completion_length,
            seed=seed,
            config=_config_values(config or []),
            report_to=report_to,
        )
        summary = train_grpo(options)
    except DebateInputError as exc:
        fail(*exc.lines)
        return
    console.print(
        f"trained {summary['steps']} steps in {summary['wall_s']} s on {summary['device']}; "
        f"policy: {summary['out']}; metrics: {out / 'metrics.jsonl'}",
        markup=False,
    )
