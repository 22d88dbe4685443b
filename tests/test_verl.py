"""verl's reward entry points, called exactly as verl calls them today.

- The reward loop (`NaiveRewardManager.run_single`, one task per sample, all gathered):
  `get_custom_reward_fn` wraps the loaded function in `partial(_call_with_kwargs[_async],
  fn, reward_kwargs)`, awaits it when `inspect.iscoroutinefunction` says so and otherwise
  runs it in the loop's executor, with keyword arguments `data_source`, `solution_str`,
  `ground_truth`, `extra_info` (plus `num_turns` and `rollout_reward_scores` in it) and,
  with a reward model, `reward_router_address` and `reward_model_tokenizer`.
- The batch manager (`BatchRewardManager.verify`): `compute_score(data_sources=<array>,
  solution_strs=<list>, ground_truths=<list>, extra_infos=<array of dicts>, **reward_kwargs)`.

The module is loaded the way verl's `load_extern_object` does it: from a file path with
`importlib.util.spec_from_file_location`, or by `pkg://` module name. Each reward is
checked against the same item scored directly, and the stored debates show the question,
the answers and the single engine run.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import debate.rewards
from debate.errors import DebateInputError

KWARGS = {"judge": "scripted", "debater": "scripted", "lam": 0.5}
KEYS = {"score", "r_debate", "r_env", "invalid", "alternative"}


def load_like_verl(module_path: str, name: str) -> Any:
    """verl.utils.import_utils.load_extern_object, written from its source."""
    if module_path.startswith("pkg://"):
        module: Any = importlib.import_module(module_path[len("pkg://") :].replace("/", "."))
    else:
        spec_name = f"custom_module_{hash(os.path.abspath(module_path))}"
        spec = importlib.util.spec_from_file_location(spec_name, module_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, name)


def custom_reward_fn(module_path: str, name: str, reward_kwargs: dict[str, Any]) -> Any:
    """verl.trainer.ppo.reward.get_custom_reward_fn: the partial verl actually calls."""
    raw_fn = load_like_verl(module_path, name)

    def call_with_kwargs(raw: Any, extra: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return raw(*args, **{**kwargs, **extra})

    async def call_with_kwargs_async(
        raw: Any, extra: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        return await raw(*args, **{**kwargs, **extra})

    if inspect.iscoroutinefunction(raw_fn):
        return partial(call_with_kwargs_async, raw_fn, reward_kwargs)
    return partial(call_with_kwargs, raw_fn, reward_kwargs)


def judged(debates: list[dict[str, Any]], question: str) -> float:
    """The zero_sum debate reward the stored verdicts on `question` give, by hand."""
    units = []
    for record in (d for d in debates if d["question"] == question):
        p_first, p_second = record["final_verdict"]["probs"]
        p_policy, p_other = (p_second, p_first) if record["swap"] else (p_first, p_second)
        units.append((p_policy > p_other) - (p_policy < p_other))
    assert len(units) == 2
    return sum(units) / 2


# (question, solution, ground truth, alternative given in extra_info)
SAMPLES = [
    ("Capital of France?", "Paris", {"gold": ["Paris"], "alternative": "London"}, None),
    ("Largest ocean?", "The Atlantic", {"gold": ["Pacific"], "alternative": "The Pacific"}, None),
    ("Water boils at?", "100 °C", np.array(["100 °C", "212 °F"]), "50 °C"),
]


def stored(store: Path) -> list[dict[str, Any]]:
    lines = (store / "transcripts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("module_path", "name"),
    [
        ("pkg://debate.rewards", "verl_compute_score_async"),
        (debate.rewards.__file__, "verl_compute_score"),
        (debate.rewards.__file__, "verl_compute_score_async"),
    ],
)
def test_reward_loop_calls(module_path: str, name: str, tmp_path: Path) -> None:
    reward_kwargs = {**KWARGS, "store": str(tmp_path)}
    compute_score = custom_reward_fn(module_path, name, reward_kwargs)
    assert inspect.iscoroutinefunction(compute_score) == name.endswith("_async")

    async def run_single(question: str, solution: str, truth: Any, other: str | None) -> Any:
        extra_info: dict[str, Any] = {"question": question, "index": 0, "split": "train"}
        if other is not None:
            extra_info["alternative"] = other
        extra_info["num_turns"] = None
        extra_info["rollout_reward_scores"] = {}
        extra = {"reward_router_address": "127.0.0.1:8000", "reward_model_tokenizer": None}
        call = partial(
            compute_score,
            data_source="truthfulqa",
            solution_str=solution,
            ground_truth=truth,
            extra_info=extra_info,
            **extra,
        )
        if inspect.iscoroutinefunction(compute_score):
            return await call()
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def compute_score_batch() -> list[Any]:
        tasks = [asyncio.create_task(run_single(*sample)) for sample in SAMPLES]
        return await asyncio.gather(*tasks)

    results = asyncio.run(compute_score_batch())
    assert all(set(result) == KEYS for result in results)
    # the alternative comes from the label, else from extra_info
    assert [r["alternative"] for r in results] == ["London", "The Pacific", "50 °C"]
    assert results[2]["r_env"] == 1.0  # an array of gold answers stays a list of answers
    debates = stored(tmp_path)
    for (question, _, _, _), result in zip(SAMPLES, results, strict=True):
        assert result["r_debate"] == judged(debates, question)
        assert result["score"] == pytest.approx(0.5 * result["r_env"] + 0.5 * result["r_debate"])
        assert result["invalid"] == 0.0
    assert [r["r_env"] for r in results] == [1.0, 0.0, 1.0]
    assert {(d["question"], frozenset(d["answers"])) for d in debates} == {
        (q, frozenset({s, other or truth["alternative"]})) for q, s, truth, other in SAMPLES
    }


def test_batch_manager_call(tmp_path: Path) -> None:
    compute_score = custom_reward_fn(
        debate.rewards.__file__, "verl_compute_score_batch", {**KWARGS, "store": str(tmp_path)}
    )
    ground_truths = [
        np.array(["Paris", "Paris, France"]),
        {"gold": np.array(["Pacific"]), "alternative": "The Atlantic"},
        "Rome",
    ]
    extra_infos = np.array(
        [
            {"question": "Capital of France?", "alternative": "Lyon", "rollout_reward_scores": {}},
            {"question": "Largest ocean?", "rollout_reward_scores": {}},
            {"question": "Capital of Italy?", "alternative": "Milan", "rollout_reward_scores": {}},
        ],
        dtype=object,
    )
    scores = compute_score(
        data_sources=np.array(["qa", "qa", "qa"], dtype=object),
        solution_strs=["Paris, France", "the pacific", "Milan"],
        ground_truths=ground_truths,
        extra_infos=extra_infos,
    )
    assert [set(score) for score in scores] == [KEYS] * 3
    assert [score["r_env"] for score in scores] == [1.0, 1.0, 0.0]
    assert [score["alternative"] for score in scores] == ["Lyon", "The Atlantic", "Milan"]
    assert scores[2]["r_debate"] == 0.0  # the answer is the alternative: a tie, no debate
    debates = stored(tmp_path)
    assert len(debates) == 4  # two items debated, in both answer orders
    assert len({d["scenario_id"].split("-")[0] for d in debates}) == 1  # one engine run
    assert {d["question"] for d in debates} == {"Capital of France?", "Largest ocean?"}
    assert scores[0]["r_debate"] == judged(debates, "Capital of France?")
    assert scores[1]["r_debate"] == judged(debates, "Largest ocean?")


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBATE_REWARD_JUDGE", "scripted/invalid")
    monkeypatch.setenv("DEBATE_REWARD_DEBATER", "scripted")
    monkeypatch.setenv("DEBATE_REWARD_LAMBDA", "0.5")
    monkeypatch.setenv("DEBATE_REWARD_ALTERNATIVE", "fixed:I do not know")
    info = {"question": "Capital of France?"}
    right = debate.rewards.verl_compute_score("qa", "Paris.", "Paris", info)
    wrong = debate.rewards.verl_compute_score("qa", "Lyon", "Paris", info)
    # the invalid judge makes every debate a tie and is counted
    assert (right["score"], wrong["score"]) == (0.5, 0.0)
    assert right["invalid"] == wrong["invalid"] == 1.0


def test_bad_labels_and_missing_alternatives_are_input_errors() -> None:
    with pytest.raises(DebateInputError, match="ground_truth: unknown key 'colour'"):
        debate.rewards.verl_compute_score("qa", "x", {"colour": "red"}, {}, **KWARGS)
    with pytest.raises(DebateInputError, match="alternative: missing"):
        debate.rewards.verl_compute_score("qa", "x", "gold", {"question": "Q?"}, **KWARGS)
    with pytest.raises(DebateInputError, match="labels"):
        debate.rewards.verl_compute_score("qa", "x", "g", {}, labels="colour", **KWARGS)
    with pytest.raises(DebateInputError, match="reward settings: mode"):
        debate.rewards.verl_compute_score("qa", "x", "g", {}, **{**KWARGS, "mode": "win"})
