"""GRPO with the debate reward: prompt rows from scenarios, config checks, and (slow) two
real TRL GRPO steps on the embedded model, through the Python API and the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import run_cli

from debate.core.scenarios import Scenario, load_scenarios
from debate.errors import DebateInputError
from debate.rl.grpo import GrpoOptions, grpo_config, other_answer, prompt_rows


def test_prompt_rows_carry_the_reward_columns() -> None:
    scenario = load_scenarios("truthfulqa-sample")[0]
    row = prompt_rows([scenario])[0]
    assert row["prompt"][0]["role"] == "user" and scenario.question in row["prompt"][0]["content"]
    assert row["question"] == scenario.question
    assert row["alternative"] != scenario.answers[scenario.correct_index or 0]
    assert row["alternative"] in scenario.answers
    assert row["gold"] == scenario.fields["correct_answers"]
    assert row["incorrect"] == scenario.fields["incorrect_answers"]
    plain = prompt_rows([scenario], conversational=False)[0]
    assert isinstance(plain["prompt"], str)


def test_other_answer_without_gold() -> None:
    claim = Scenario(id="c", question="Is it so?", answers=["yes", "no"])
    assert other_answer(claim) == "no"
    assert other_answer(Scenario(id="e", question="?")) is None


def test_config_passes_through_and_checks() -> None:
    options = GrpoOptions(steps=3, batch_size=4, generations=2, config={"beta": 0.1})
    config = grpo_config(options)
    assert (config.max_steps, config.num_generations, config.beta) == (3, 2, 0.1)
    with pytest.raises(DebateInputError, match="not a GRPOConfig field"):
        grpo_config(GrpoOptions(config={"bogus": 1}))
    with pytest.raises(DebateInputError, match="multiple of"):
        grpo_config(GrpoOptions(batch_size=3, generations=2))


def test_trl_sees_the_async_reward_as_async() -> None:
    from trl.trainer.utils import get_callable_name, is_async_callable

    from debate.rewards import AsyncDebateReward, DebateReward

    reward = AsyncDebateReward(judge="scripted", debater="scripted")
    assert is_async_callable(reward) and get_callable_name(reward) == "debate_reward"
    assert not is_async_callable(DebateReward(judge="scripted", debater="scripted"))


def test_cli_rejects_bad_options(tmp_path: Path) -> None:
    result = run_cli("train", "grpo", "--reward", "win", "--out", str(tmp_path))
    assert result.returncode == 2 and "mode" in result.stderr
    for command in (["grpo", "--out"], ["dpo", "--data"]):
        result = run_cli("train", *command, str(tmp_path), "--report-to", "comet")
        assert result.returncode == 2 and "--report-to: 'comet': expected one of" in result.stderr
        if importlib.util.find_spec("trackio") is None:
            result = run_cli("train", *command, str(tmp_path), "--report-to", "trackio")
            assert result.returncode == 2
            assert "'trackio' package is not installed" in result.stderr
    result = run_cli("train", "grpo", "--policy", str(tmp_path), "--judge", "scripted")
    assert result.returncode == 2 and "--policy" in result.stderr


def tensorboard_scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar in the TensorBoard event files under `folder`, by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list[float]] = {}
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend(e.value for e in accumulator.Scalars(tag))
    return scalars


@pytest.mark.slow
def test_two_real_grpo_steps_with_debate_and_environment_reward(tmp_path: Path) -> None:
    """`debate train grpo` on the embedded policy: 2 real TRL GRPO steps, reward
    r = 0.5·correctness + 0.5·prob_diff debate reward (scripted judge and debaters),
    logged to TensorBoard."""
    result = run_cli(
        "train", "grpo", "--policy", "local", "--limit", "2", "--judge", "scripted",
        "--debater", "scripted", "--lambda", "0.5", "--reward", "prob_diff",
        "--speech-tokens", "8", "--steps", "2", "--batch-size", "2", "--generations", "2",
        "--max-completion-length", "8", "--out", str(tmp_path), "--config", "beta=0.0",
        "--keep-debates", "--report-to", "tensorboard",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["reward"]["lam"] == 0.5
    assert summary["reward"]["mode"] == "prob_diff"
    assert (tmp_path / "policy" / "config.json").is_file()
    assert (tmp_path / "policy" / "model.safetensors").is_file()
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [entry for entry in log if "reward" in entry]
    assert len(steps) == 2
    for entry in steps:
        assert entry["debate/judged"] == 4.0  # 2 completions × 2 answer orders
        assert 0.0 <= entry["debate/win_rate"] <= 1.0
        assert entry["debate/invalid_rate"] == 0.0
        assert "debate/r_env" in entry and "debate/r_debate" in entry
        assert "rewards/debate_reward/mean" in entry and entry["debate/no_alternative"] == 0.0
    scalars = tensorboard_scalars(tmp_path / "tensorboard")
    for part in ("r_debate", "r_env", "invalid", "win_rate", "judged"):
        assert len(scalars[f"train/debate/{part}"]) == 2, sorted(scalars)  # one per step
    assert scalars["train/debate/judged"] == [4.0, 4.0]
    assert scalars["train/debate/r_env"] == [entry["debate/r_env"] for entry in steps]
    debates = (tmp_path / "debates" / "transcripts.jsonl").read_text().splitlines()
    # 2 steps × 2 completions × 2 answer orders; a repeated completion is judged once
    assert len(debates) in (4, 6, 8)
