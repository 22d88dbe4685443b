"""Debate rewards: each mode and the λ-mix by hand, invalid verdicts, the swap, TRL adapters.

Judges are scripted with exact choice log-probabilities, so every expected reward is
computed by hand from the verdicts they give.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import pytest

from debate.analysis.answers import normalise
from debate.errors import DebateInputError
from debate.models.base import ChatMessage, Completion, GenerateConfig
from debate.rewards import (
    AsyncDebateReward,
    DebateReward,
    DebateRewarder,
    JudgedOrder,
    RewardItem,
    RewardSettings,
    correctness,
    correctness_reward,
    debate_reward,
    mix,
    unit_reward,
)

# ----------------------------------------------------------------- arithmetic by hand


def test_zero_sum_per_order_and_invalid() -> None:
    assert unit_reward("zero_sum", JudgedOrder(0.8, 0.2)) == 1.0
    assert unit_reward("zero_sum", JudgedOrder(0.3, 0.7)) == -1.0
    assert unit_reward("zero_sum", JudgedOrder(0.5, 0.5)) == 0.0
    assert unit_reward("zero_sum", JudgedOrder(None, None)) == 0.0


def test_prob_diff_and_log_score_per_order() -> None:
    assert unit_reward("prob_diff", JudgedOrder(0.8, 0.2)) == pytest.approx(0.6)
    assert unit_reward("prob_diff", JudgedOrder(0.3, 0.7)) == pytest.approx(-0.4)
    assert unit_reward("prob_diff", JudgedOrder(None, None)) == 0.0
    assert unit_reward("log_score", JudgedOrder(0.8, 0.2)) == pytest.approx(math.log(0.8))
    assert unit_reward("log_score", JudgedOrder(None, None)) == pytest.approx(math.log(0.5))
    assert unit_reward("log_score", JudgedOrder(0.0, 1.0)) == pytest.approx(math.log(1e-6))


def test_swap_average_by_hand() -> None:
    orders = [JudgedOrder(0.8, 0.2), JudgedOrder(0.3, 0.7, swapped=True)]
    assert debate_reward("zero_sum", orders) == 0.0
    assert debate_reward("prob_diff", orders) == pytest.approx((0.6 - 0.4) / 2)
    assert debate_reward("log_score", orders) == pytest.approx((math.log(0.8) + math.log(0.3)) / 2)
    one_invalid = [JudgedOrder(0.9, 0.1), JudgedOrder(None, None, swapped=True)]
    assert debate_reward("zero_sum", one_invalid) == 0.5
    assert debate_reward("prob_diff", one_invalid) == pytest.approx(0.4)
    assert debate_reward("zero_sum", []) == 0.0


def test_lambda_mix_by_hand() -> None:
    assert mix(1.0, -1.0, 0.0) == 1.0
    assert mix(1.0, -1.0, 1.0) == -1.0
    assert mix(1.0, -1.0, 0.5) == 0.0
    assert mix(0.0, 0.6, 0.25) == pytest.approx(0.15)


def test_unknown_mode_is_an_input_error() -> None:
    with pytest.raises(DebateInputError, match="unknown mode 'win'"):
        unit_reward("win", JudgedOrder(0.5, 0.5))


def test_correctness_normalised_match() -> None:
    assert normalise("  The Eiffel-Tower!  ") == "eiffel tower"
    gold = ["Paris", "The city of Paris"]
    assert correctness("paris.", gold) == 1.0
    assert correctness("It is Paris, of course", gold) == 1.0
    assert correctness("Parisian", gold) == 0.0
    assert correctness("London", gold, ["London"]) == 0.0
    assert correctness("Paris or London", gold, ["London"]) == 0.0
    assert correctness("anything", []) == 0.0


# ----------------------------------------------------------------- through the engine


def _answers(messages: Sequence[ChatMessage]) -> dict[str, str]:
    system = messages[0].content
    return dict(re.findall(r"^([AB]): (.*)$", system, flags=re.MULTILINE))


def judge_preferring(word: str, p: float, bias_a: float | None = None) -> Any:
    """Debaters say one line; the judge gives `p` to the answer containing `word`
    (or `bias_a` to answer A whatever it says)."""

    def respond(messages: Sequence[ChatMessage], config: GenerateConfig) -> str | Completion:
        if not config.choices:
            return "My answer is right."
        answers = _answers(messages)
        p_a = bias_a if bias_a is not None else (p if word in answers["A"] else 1 - p)
        if bias_a is None and word not in answers["A"] + answers["B"]:
            p_a = 0.5
        logprobs = {"A": math.log(p_a), "B": math.log(1 - p_a)}
        return Completion(text="Answer: A", model="scripted/judge", choice_logprobs=logprobs)

    return respond


def rewarder(responder: Any, **settings: Any) -> DebateRewarder:
    values = {"judge": "scripted/judge", "debater": "scripted/debater", **settings}
    return DebateRewarder(RewardSettings(**values), model_options={"responder": responder})


ITEM = RewardItem(question="Capital of France?", answer="Paris", alternative="London")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("zero_sum", 1.0), ("prob_diff", 0.8), ("log_score", math.log(0.9))],
)
def test_each_mode_through_debates(mode: str, expected: float) -> None:
    scorer = rewarder(judge_preferring("Paris", 0.9), mode=mode)
    batch = asyncio.run(scorer.score([ITEM]))
    assert batch.rewards == [pytest.approx(expected)]
    assert batch.units == 2 and batch.invalid == 0 and batch.wins == 2
    assert sorted(o.swapped for o in batch.results[0].orders) == [False, True]
    losing = RewardItem(question="Capital of France?", answer="London", alternative="Paris")
    assert asyncio.run(scorer.score([losing])).rewards[0] < 0


def test_swap_cancels_a_position_biased_judge() -> None:
    scorer = rewarder(judge_preferring("Paris", 0.9, bias_a=0.7), mode="prob_diff")
    batch = asyncio.run(scorer.score([ITEM]))
    orders = {o.swapped: o for o in batch.results[0].orders}
    assert orders[False].p_policy == pytest.approx(0.7)  # policy's answer shown as A
    assert orders[True].p_policy == pytest.approx(0.3)  # policy's answer shown as B
    assert batch.rewards == [pytest.approx(0.0)]
    assert batch.win_rate == pytest.approx(0.5)


def test_invalid_verdicts_count_as_ties_and_are_reported() -> None:
    scorer = DebateRewarder(RewardSettings(judge="scripted/invalid", debater="scripted"))
    other = RewardItem(question="Capital of Spain?", answer="Madrid", alternative="Bilbao")
    batch = asyncio.run(scorer.score([ITEM, other]))
    assert batch.rewards == [0.0, 0.0]
    assert (batch.units, batch.invalid, batch.invalid_rate) == (4, 4, 1.0)
    assert batch.metrics()["debate/invalid_rate"] == 1.0


def test_lambda_mix_through_debates_with_gold() -> None:
    scorer = rewarder(judge_preferring("London", 0.8), mode="prob_diff", lam=0.25)
    right = RewardItem(question="Capital?", answer="Paris", alternative="London", gold=["Paris"])
    wrong = RewardItem(question="Capital?", answer="Lyon", alternative="London", gold=["Paris"])
    batch = asyncio.run(scorer.score([right, wrong]))
    # right: r_env 1, r_debate 0.2 - 0.8 = -0.6; wrong: r_env 0, r_debate -0.6
    assert batch.rewards == [pytest.approx(0.75 * 1 + 0.25 * -0.6), pytest.approx(0.25 * -0.6)]
    assert [r.r_env for r in batch.results] == [1.0, 0.0]


def test_lambda_zero_runs_no_debate() -> None:
    scorer = rewarder(judge_preferring("Paris", 0.9), lam=0.0)
    item = RewardItem(question="Capital?", answer="Paris", alternative="London", gold=["Paris"])
    batch = asyncio.run(scorer.score([item, ITEM]))
    assert batch.rewards == [1.0, 0.0] and batch.units == 0 and batch.identical == 0


def test_identical_answers_are_a_tie_without_a_debate() -> None:
    scorer = rewarder(judge_preferring("Paris", 0.9))
    same = RewardItem(question="Capital?", answer="the London.", alternative="London")
    batch = asyncio.run(scorer.score([same, ITEM]))
    assert batch.rewards == [0.0, 1.0]
    assert batch.identical == 1 and batch.units == 2


def test_fixed_and_baseline_alternatives() -> None:
    def respond(messages: Sequence[ChatMessage], config: GenerateConfig) -> str | Completion:
        if len(messages) == 1:  # the baseline policy is asked the bare question
            return "London"
        return judge_preferring("Paris", 0.9)(messages, config)

    bare = RewardItem(question="Capital of France?", answer="Paris")
    fixed = rewarder(respond, alternative="fixed:I do not know")
    assert asyncio.run(fixed.score([bare])).results[0].alternative == "I do not know"
    baseline = rewarder(respond, alternative="baseline:scripted/baseline")
    batch = asyncio.run(baseline.score([bare, bare]))
    assert [r.alternative for r in batch.results] == ["London", "London"]
    assert batch.rewards == [1.0, 1.0]
    with pytest.raises(DebateInputError, match="alternative: missing"):
        asyncio.run(rewarder(respond).score([bare]))
    with pytest.raises(DebateInputError, match="--alternative"):
        rewarder(respond, alternative="baseline")


def test_a_long_running_rewarder_remembers_a_bounded_number_of_baseline_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import debate.rl.reward as reward_module

    monkeypatch.setattr(reward_module, "BASELINE_ANSWERS", 3)

    def respond(messages: Sequence[ChatMessage], config: GenerateConfig) -> str | Completion:
        if len(messages) == 1:
            return "London"
        return judge_preferring("Paris", 0.9)(messages, config)

    baseline = rewarder(respond, alternative="baseline:scripted/baseline")
    for number in range(5):
        item = RewardItem(question=f"Question {number}?", answer="Paris")
        assert asyncio.run(baseline.score([item])).results[0].alternative == "London"
    assert list(baseline._baseline_answers) == [f"Question {n}?" for n in (2, 3, 4)]


def test_consultancy_protocol_gives_rewards() -> None:
    def respond(messages: Sequence[ChatMessage], config: GenerateConfig) -> str | Completion:
        if config.choices or "Answer:" in messages[-1].content:
            return judge_preferring("Paris", 0.9)(messages, config)
        return "Why do you say that?" if "judge" in messages[0].content.lower() else "Because."

    scorer = rewarder(respond, protocol="consultancy", mode="prob_diff")
    batch = asyncio.run(scorer.score([ITEM]))
    assert batch.units == 2 and batch.invalid == 0
    assert batch.rewards == [pytest.approx(0.8)]


def test_store_keeps_every_judged_debate(tmp_path: Any) -> None:
    scorer = rewarder(judge_preferring("Paris", 0.9), store=tmp_path / "debates")
    batch = asyncio.run(scorer.score([ITEM, ITEM]))  # repeated: one debate, shared
    assert batch.shared == 1 and batch.units == 4 and batch.rewards == [1.0, 1.0]
    asyncio.run(scorer.score([ITEM]))
    lines = (tmp_path / "debates" / "transcripts.jsonl").read_text().splitlines()
    assert len(lines) == 4 and len({json.loads(line)["id"] for line in lines}) == 4
    assert "mode: zero_sum" in (tmp_path / "debates" / "spec.yaml").read_text()


def test_protocol_without_verdict_is_rejected(tmp_path: Any) -> None:
    path = tmp_path / "talk.yaml"
    path.write_text("name: talk\nroles:\n  a: {agent: debater, defends: 0}\nrounds: []\n")
    with pytest.raises(DebateInputError, match="needs a final verdict"):
        DebateRewarder(RewardSettings(protocol=str(path), judge="scripted", debater="scripted"))


# ----------------------------------------------------------------- TRL reward functions


def test_trl_sync_reward_standard_and_conversational_formats() -> None:
    metrics: dict[str, float] = {}
    extra: dict[str, list[Any]] = {}
    reward = DebateReward(
        RewardSettings(judge="scripted/judge", debater="scripted/debater", lam=0.5),
        model_options={"responder": judge_preferring("Paris", 0.9)},
    )
    columns = {
        "question": ["Capital of France?"] * 2,
        "alternative": ["London", "Paris"],
        "gold": [["Paris"], ["Paris"]],
        "log_metric": lambda name, value: metrics.__setitem__(name, value),
        "log_extra": lambda name, values: extra.__setitem__(name, values),
        "trainer_state": None,
    }
    standard = reward(["Q?", "Q?"], ["Paris", "London is it"], **columns)
    assert standard == [pytest.approx(1.0), pytest.approx(-0.5)]
    assert metrics["debate/win_rate"] == 0.5 and metrics["debate/invalid_rate"] == 0.0
    assert extra["r_env"] == [1.0, 0.0]
    chat_prompts = [[{"role": "user", "content": "Capital of France?"}]] * 2
    chat_completions = [
        [{"role": "assistant", "content": "Paris"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "London is it"}]}],
    ]
    conversational = reward(chat_prompts, chat_completions, **columns)
    assert conversational == standard
    reward.close()


def test_trl_rows_without_an_alternative_get_none_and_are_counted() -> None:
    metrics: dict[str, list[float]] = {}
    extra: dict[str, list[Any]] = {}

    def log_metric(name: str, value: float) -> None:
        metrics.setdefault(name, []).append(value)

    reward = AsyncDebateReward(
        judge="scripted/judge",
        debater="scripted/debater",
        lam=0.5,
        model_options={"responder": judge_preferring("Paris", 0.9)},
    )
    columns = {
        "question": ["Capital of France?", "2 + 2?", "Capital of France?"],
        "alternative": ["London", None, ""],  # a mixed dataset: rows for other rewards
        "gold": [["Paris"], ["4"], ["Paris"]],
        "log_metric": log_metric,
        "log_extra": lambda name, values: extra.__setitem__(name, values),
    }
    rewards = asyncio.run(reward(["q"] * 3, ["Paris", "4", "Paris"], **columns))
    assert rewards == [pytest.approx(0.5 * 1 + 0.5 * 1), None, None]
    assert metrics["debate/no_alternative"] == [2.0]
    assert metrics["debate/r_debate"] == [1.0] and metrics["debate/r_env"] == [1.0]
    assert metrics["debate/invalid"] == [0.0] and metrics["debate/judged"] == [2.0]
    assert extra["r_debate"] == [1.0, None, None] and extra["r_env"] == [1.0, None, None]
    nothing = asyncio.run(reward(["q"], ["4"], alternative=[None], log_metric=log_metric))
    assert nothing == [None] and metrics["debate/no_alternative"][-1] == 1.0
    # with λ = 0 no debate is wanted, so a row without an alternative still gets r_env
    env_only = AsyncDebateReward(judge="scripted", debater="scripted", lam=0.0)
    assert asyncio.run(env_only(["q"], ["4"], alternative=[None], gold=[["4"]])) == [1.0]


def test_trl_async_reward() -> None:
    reward = AsyncDebateReward(
        judge="scripted/judge",
        debater="scripted/debater",
        model_options={"responder": judge_preferring("Paris", 0.9)},
    )
    rewards = asyncio.run(
        reward(["Capital of France?"], ["Paris"], alternative=["London"], completion_ids=[[1]])
    )
    assert rewards == [1.0]


def test_correctness_reward_function() -> None:
    got = correctness_reward(["q", "q"], ["Paris!", "Rome"], gold=[["Paris"], "Paris"])
    assert got == [1.0, 0.0]
