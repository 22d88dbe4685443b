"""`debate train grpo`: train a policy with TRL's GRPO on a debate reward (optional extra).

`prompt_rows(scenarios)` turns scenarios into a prompt dataset: a conversational
`prompt` plus the columns `DebateReward` reads (`question`, `alternative` = the
scenario's other answer, `gold`, `incorrect`, `story`). `train_grpo(options)` trains
with `GRPOTrainer(reward_funcs=[AsyncDebateReward(...)])` (the environment reward is
mixed in by λ inside it), on the GPU when there is one and on the CPU otherwise, and
writes `DIR/policy/` (the trained model and tokenizer), `DIR/metrics.jsonl` (TRL's
log, one line per logging step, with the debate reward's parts and rates) and
`DIR/summary.json` (settings, steps, wall time, steps/s). `report_to` sends the same
log to TensorBoard (event files in `DIR/tensorboard/`), Weights & Biases or Trackio.

TRL, datasets and torch are imported inside the functions: `import debate` never needs them.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debate.core.scenarios import Scenario
from debate.errors import DebateInputError
from debate.rl.reward import RewardSettings

INSTRUCTION = "Answer the question in one short sentence."


def _gold(scenario: Scenario) -> list[str]:
    listed = scenario.fields.get("correct_answers")
    if isinstance(listed, list) and listed:
        return [str(answer) for answer in listed]
    if scenario.correct_index is not None:
        return [scenario.answers[scenario.correct_index]]
    return []


def _incorrect(scenario: Scenario) -> list[str]:
    listed = scenario.fields.get("incorrect_answers")
    if isinstance(listed, list) and listed:
        return [str(answer) for answer in listed]
    return [a for i, a in enumerate(scenario.answers) if i != scenario.correct_index]


def other_answer(scenario: Scenario) -> str | None:
    """The alternative to debate against: the first non-gold answer (no gold: the last one)."""
    if not scenario.answers:
        return None
    if scenario.correct_index is None:
        return scenario.answers[-1]
    wrong = [a for i, a in enumerate(scenario.answers) if i != scenario.correct_index]
    return wrong[0] if wrong else None


def prompt_rows(scenarios: list[Scenario], conversational: bool = True) -> list[dict[str, Any]]:
    """One GRPO prompt row per scenario, with the columns the debate reward reads."""
    rows = []
    for scenario in scenarios:
        text = f"{scenario.question}\n{INSTRUCTION}"
        if scenario.story:
            text = f"<story>\n{scenario.story}\n</story>\n\n{text}"
        rows.append(
            {
                "prompt": [{"role": "user", "content": text}] if conversational else text,
                "question": scenario.question,
                "alternative": other_answer(scenario),
                "gold": _gold(scenario),
                "incorrect": _incorrect(scenario),
                "story": scenario.story or "",
                "scenario_id": scenario.id,
            }
        )
    return rows


@dataclass
class GrpoOptions:
    """What `debate train grpo` takes; `config` passes extra GRPOConfig fields through."""

    policy: str = "local"
    scenarios: str = "truthfulqa-sample"
    limit: int | None = None
    reward: RewardSettings = field(default_factory=RewardSettings)
    out: Path = Path("runs/grpo")
    steps: int = 2
    batch_size: int = 4
    generations: int = 2
    learning_rate: float = 1e-6
    max_completion_length: int = 32
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)
    report_to: str = "none"


def policy_path(policy: str) -> str:
    """A trainable checkpoint directory for `local`, `hf/<path>` or a plain path."""
    if policy == "local":
        from debate.models.embedded import embedded_checkpoint_dir

        return str(embedded_checkpoint_dir())
    path = Path(policy.removeprefix("hf/")).expanduser()
    if not (path / "config.json").is_file():
        raise DebateInputError(
            f"--policy: '{policy}': expected local, hf/<checkpoint dir> or a checkpoint dir"
        )
    return str(path)


def grpo_config(options: GrpoOptions) -> Any:
    import dataclasses

    import torch
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(options.config) - known)
    if unknown:
        raise DebateInputError(f"--config: '{unknown[0]}' is not a GRPOConfig field")
    if options.batch_size % options.generations:
        raise DebateInputError(
            f"--batch-size {options.batch_size} must be a multiple of "
            f"--generations {options.generations}"
        )
    cuda = torch.cuda.is_available()
    values: dict[str, Any] = {
        "output_dir": str(options.out / "checkpoints"),
        "max_steps": options.steps,
        "per_device_train_batch_size": options.batch_size,
        "num_generations": options.generations,
        "learning_rate": options.learning_rate,
        "max_completion_length": options.max_completion_length,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": options.report_to,
        "seed": options.seed,
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "dataloader_num_workers": 0,
    }
    values.update(options.config)
    return GRPOConfig(**values)


def train_grpo(options: GrpoOptions) -> dict[str, Any]:
    """Train, save the policy and the metrics log; returns the summary written."""
    from debate.core.scenarios import load_scenarios
    from debate.models.training_logs import check_report_to, point_tensorboard
    from debate.rl.trl_reward import AsyncDebateReward

    check_report_to(options.report_to)  # input errors first, before the heavy imports
    path = policy_path(options.policy)
    scenarios = load_scenarios(options.scenarios)
    if options.limit is not None:
        scenarios = scenarios[: options.limit]
    if not scenarios:
        raise DebateInputError(f"--scenarios: '{options.scenarios}': no scenarios")
    reward = AsyncDebateReward(options.reward, model_options=options.model_options)

    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOTrainer

    dataset = Dataset.from_list(prompt_rows(scenarios))
    config = grpo_config(options)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    step_seconds: list[float] = []

    class StepClock(TrainerCallback):  # type: ignore[misc]
        started = 0.0

        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            step_seconds.append(time.perf_counter() - self.started)

    trainer = GRPOTrainer(
        model=path,
        reward_funcs=[reward],  # type: ignore[list-item]  # TRL awaits async callables
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[StepClock()],
    )
    point_tensorboard(trainer, options.out / "tensorboard")
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    reward_loop = getattr(trainer, "async_loop", None)  # TRL ran the reward on this loop
    if reward_loop is not None:
        asyncio.run_coroutine_threadsafe(reward.rewarder.aclose(), reward_loop).result()
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out / "policy"))
    tokenizer.save_pretrained(str(out / "policy"))
    with (out / "metrics.jsonl").open("w", encoding="utf-8") as handle:
        for entry in trainer.state.log_history:
            handle.write(json.dumps(entry) + "\n")
    steps = trainer.state.global_step
    summary = {
        "policy": options.policy,
        "scenarios": options.scenarios,
        "prompts": len(dataset),
        "reward": options.reward.model_dump(mode="json"),
        "steps": steps,
        "wall_s": round(wall, 3),
        "steps_per_s": round(steps / wall, 4) if wall else None,
        "step_seconds": [round(s, 3) for s in step_seconds],
        "device": str(trainer.accelerator.device),
        "out": str(out / "policy"),
        "report_to": options.report_to,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
