"""Justifiability rewards: a policy's answer debated against an alternative, judged, scored.

Given a question, the policy's answer and an alternative answer (the scenario's other
answer, a baseline policy's answer, or a fixed string), `DebateRewarder` builds a
two-answer `Scenario` ``[policy, alternative]`` and runs the declared protocol
(`debate` by default; any protocol with a final verdict, e.g. `consultancy`) in both
answer orders through one `Engine` run, so the reward never depends on who speaks
first and every debate of a batch shares the batched model backends. The judge's
final verdicts become the debate reward (`unit_reward`, averaged over the two orders):

| mode | one judged order | invalid verdict (counted) |
|---|---|---|
| `zero_sum` | +1 policy preferred, -1 alternative preferred, 0 tie | 0 |
| `prob_diff` | p(policy) - p(alternative) | 0 |
| `log_score` | log max(p(policy), 1e-6) | log 0.5 |

An invalid or failed verdict counts as "the judge could not decide" (p = 0.5 each).
A policy answer that equals the alternative after normalisation is not debated: it
is a tie; repeated (question, answer, alternative) items of a batch share one debate.
The debate reward is mixed with an environment reward,
r = (1 - lam) * r_env + lam * r_debate, where r_env defaults to `correctness` against
the gold answers. With lam = 0 no debate runs at all (the environment-only baseline).

TRL reward functions are in `debate.rl.trl_reward`, verl's entry points in `debate.rl.verl`,
the HTTP server for OpenRLHF in `debate.rl.server`; all three build on this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from debate.analysis.answers import correctness, normalise
from debate.errors import DebateInputError

RewardMode = Literal["zero_sum", "prob_diff", "log_score"]
MODES: tuple[str, ...] = ("zero_sum", "prob_diff", "log_score")
LOG_FLOOR = 1e-6
BASELINE_ANSWERS = 4096
"""Baseline answers a rewarder remembers (most recent questions), so that a long-running
reward server's memory stays bounded."""


# ---------------------------------------------------------------- reward arithmetic


@dataclass(frozen=True)
class JudgedOrder:
    """One judged answer order: the judge's probabilities for each side (None: invalid)."""

    p_policy: float | None
    p_alternative: float | None
    swapped: bool = False

    @property
    def valid(self) -> bool:
        return self.p_policy is not None and self.p_alternative is not None


def unit_reward(mode: str, order: JudgedOrder) -> float:
    """The debate reward of one judged order; an invalid verdict counts as p = 0.5 each."""
    p_policy = order.p_policy if order.valid else 0.5
    p_alternative = order.p_alternative if order.valid else 0.5
    assert p_policy is not None and p_alternative is not None
    if mode == "zero_sum":
        return float((p_policy > p_alternative) - (p_policy < p_alternative))
    if mode == "prob_diff":
        return p_policy - p_alternative
    if mode == "log_score":
        return math.log(max(p_policy, LOG_FLOOR))
    raise DebateInputError(f"--reward: unknown mode '{mode}' (known: {', '.join(MODES)})")


def debate_reward(mode: str, orders: Sequence[JudgedOrder]) -> float:
    """The swap-averaged debate reward; no judged order at all is a tie."""
    if not orders:
        return unit_reward(mode, JudgedOrder(None, None))
    return sum(unit_reward(mode, order) for order in orders) / len(orders)


def mix(r_env: float, r_debate: float, lam: float) -> float:
    """r = (1 - lam) * r_env + lam * r_debate."""
    return (1.0 - lam) * r_env + lam * r_debate


def reward_bounds(mode: str, lam: float) -> tuple[float, float]:
    """The least and the greatest mixed reward, for an environment reward in [0, 1]."""
    low, high = (math.log(LOG_FLOOR), 0.0) if mode == "log_score" else (-1.0, 1.0)
    return lam * low, (1.0 - lam) + lam * high


def unit_score(reward: float, mode: str, lam: float) -> float:
    """The reward mapped affinely onto [0, 1] by its bounds (clipped, for a custom r_env).

    Affine, so it keeps every order and difference of the rewards; e.g. zero_sum with
    lam = 1 gives (r + 1) / 2, and a tie scores 0.5.
    """
    low, high = reward_bounds(mode, lam)
    return min(1.0, max(0.0, (reward - low) / (high - low)))


# ---------------------------------------------------------------- running the debates


class RewardItem(BaseModel):
    """One policy answer to score. `alternative` None means: take it from the settings."""

    model_config = ConfigDict(frozen=True)

    question: str
    answer: str
    alternative: str | None = None
    gold: list[str] = Field(default_factory=list)
    incorrect: list[str] = Field(default_factory=list)
    story: str | None = None


class RewardSettings(BaseModel):
    """How rewards are computed; shared by the TRL functions, the server and the trainer.

    `alternative`: `other` (each item carries its own: a dataset column or a label),
    `fixed:TEXT`, or `baseline:MODEL` (that model's answer to the question).
    `speech_tokens` caps every agent's `max_tokens` (debate cost during RL).
    """

    model_config = ConfigDict(extra="forbid")

    protocol: str = "debate"
    judge: str = "local"
    debater: str = "local"
    mode: RewardMode = "zero_sum"
    lam: float = Field(default=1.0, ge=0.0, le=1.0)
    alternative: str = "other"
    seed: int = 0
    concurrency: int = Field(default=64, ge=1)
    speech_tokens: int | None = Field(default=None, ge=1)
    baseline_tokens: int = Field(default=64, ge=1)
    base_url: str | None = None
    store: Path | None = None


@dataclass
class ItemResult:
    reward: float
    r_debate: float
    r_env: float
    orders: list[JudgedOrder]
    debated: bool
    alternative: str

    @property
    def invalid(self) -> float:
        """The share of this item's judged orders whose verdict was invalid (0 without any)."""
        return (
            sum(not order.valid for order in self.orders) / len(self.orders) if self.orders else 0.0
        )


@dataclass
class RewardBatch:
    """Rewards of one batch, with the counts behind the logged rates."""

    results: list[ItemResult] = field(default_factory=list)
    units: int = 0
    invalid: int = 0
    wins: int = 0
    losses: int = 0
    identical: int = 0
    shared: int = 0
    missing_gold: int = 0

    @property
    def rewards(self) -> list[float]:
        return [r.reward for r in self.results]

    @property
    def win_rate(self) -> float:
        """Judged orders won by the policy among valid judged orders (ties count half)."""
        valid = self.units - self.invalid
        if valid == 0:
            return 0.0
        ties = valid - self.wins - self.losses
        return (self.wins + 0.5 * ties) / valid

    @property
    def invalid_rate(self) -> float:
        return self.invalid / self.units if self.units else 0.0

    def metrics(self) -> dict[str, float]:
        count = max(1, len(self.results))
        return {
            "debate/win_rate": self.win_rate,
            "debate/invalid_rate": self.invalid_rate,
            "debate/r_debate": sum(r.r_debate for r in self.results) / count,
            "debate/r_env": sum(r.r_env for r in self.results) / count,
            "debate/judged": float(self.units),
            "debate/invalid": float(self.invalid),
        }


def _probabilities(record: dict[str, Any]) -> tuple[float, float] | None:
    final = record.get("final_verdict")
    if not final or not final.get("valid") or not final.get("probs"):
        return None
    probs = final["probs"]
    return (probs[1], probs[0]) if record["swap"] else (probs[0], probs[1])


EnvReward = Callable[[RewardItem], float]


def default_env_reward(item: RewardItem) -> float:
    return correctness(item.answer, item.gold, item.incorrect)


def content_digest(key: tuple[str | None, ...]) -> str:
    """A short digest of an item's content (question, answer, alternative, story)."""
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode()).hexdigest()[:16]


class DebateRewarder:
    """Scores batches of `RewardItem`s by running their debates through one `Engine` run."""

    def __init__(
        self,
        settings: RewardSettings | None = None,
        *,
        env_reward: EnvReward | None = None,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        from debate.core.engine import ModelBindings
        from debate.core.loading import load_protocol

        self.settings = settings or RewardSettings()
        self.env_reward = env_reward or default_env_reward
        self.bundle = load_protocol(self.settings.protocol)
        if self.bundle.protocol.verdict is None:
            raise DebateInputError(
                f"{self.bundle.source}: verdict: a reward protocol needs a final verdict"
            )
        if self.settings.speech_tokens is not None:
            cap = self.settings.speech_tokens
            for name, agent in self.bundle.agents.items():
                limited = min(agent.max_tokens, cap)
                self.bundle.agents[name] = agent.model_copy(update={"max_tokens": limited})
        bindings = {
            role: self.settings.judge if declared.judge is not None else self.settings.debater
            for role, declared in self.bundle.protocol.roles.items()
        }
        base_urls = {"": self.settings.base_url} if self.settings.base_url else None
        options = dict(model_options or {})
        self.bindings = ModelBindings(bindings, base_urls=base_urls, options=options)
        self._baseline_options = options
        self._kind, _, self._alternative_value = self.settings.alternative.partition(":")
        if self._kind not in ("other", "fixed", "baseline") or (
            self._kind != "other" and not self._alternative_value
        ):
            raise DebateInputError(
                f"--alternative: '{self.settings.alternative}': expected other, fixed:TEXT "
                "or baseline:MODEL"
            )
        self._baseline_answers: dict[str, str] = {}
        self._baseline_model: Any = None
        self._store: Any = None
        self._batches = itertools.count()
        # made now, so a bad model name fails before a server says it is healthy
        for role in self.bundle.protocol.roles:
            self.bindings.model_for(role, self.bundle.role_spec(role).name)
        if self._kind == "baseline":
            from debate.models import create_model

            create_model(self._alternative_value, **self._baseline_options)

    def lacks_alternative(self, item: RewardItem) -> bool:
        """True when a debate reward is wanted but `item` has no alternative to debate."""
        return self._kind == "other" and self.settings.lam > 0.0 and item.alternative is None

    async def _alternatives(self, items: Sequence[RewardItem]) -> list[str]:
        if self._kind == "fixed":
            return [self._alternative_value] * len(items)
        if self._kind == "other":
            missing = [i for i, item in enumerate(items) if self.lacks_alternative(item)]
            if missing:
                raise DebateInputError(
                    f"item {missing[0]}: alternative: missing (give each item an alternative "
                    "answer, or use --alternative fixed:TEXT / baseline:MODEL)"
                )
            return [item.alternative or "" for item in items]
        from debate.models import ChatMessage, GenerateConfig, create_model

        if self._baseline_model is None:
            self._baseline_model = create_model(self._alternative_value, **self._baseline_options)
        model = self._baseline_model
        config = GenerateConfig(
            max_tokens=self.settings.baseline_tokens, temperature=0.0, seed=self.settings.seed
        )
        todo = sorted({item.question for item in items} - set(self._baseline_answers))
        replies = await asyncio.gather(
            *(model.generate([ChatMessage(role="user", content=q)], config) for q in todo)
        )
        answers = self._baseline_answers
        answers.update((q, reply.text.strip()) for q, reply in zip(todo, replies, strict=True))
        chosen = [answers[item.question] for item in items]
        # a server scores for as long as training runs: keep the most recent answers only
        for stale in list(itertools.islice(answers, max(0, len(answers) - BASELINE_ANSWERS))):
            del answers[stale]
        return chosen

    async def score(self, items: Sequence[RewardItem]) -> RewardBatch:
        """Rewards for `items` (in order); all their debates run concurrently."""
        from debate.core.context import derive_seed
        from debate.core.engine import Engine, plan_units
        from debate.core.scenarios import Scenario

        alternatives = await self._alternatives(items)
        batch_id = next(self._batches)
        scenarios = []
        owner: dict[int, str] = {}  # item index -> the scenario that debates it
        first: dict[tuple[str, str, str, str | None], str] = {}
        for index, (item, alternative) in enumerate(zip(items, alternatives, strict=True)):
            if self.settings.lam == 0.0:  # the debate reward has no weight: skip the debates
                break
            if normalise(item.answer) == normalise(alternative):
                continue
            key = (item.question, item.answer, alternative, item.story)
            if key in first:  # a repeated completion (common in GRPO groups) is judged once
                owner[index] = first[key]
                continue
            digest = content_digest(key)
            # the id names the content (and, in a kept store, the batch): a debate's seed
            # must not depend on what else the process served before
            owner[index] = first[key] = f"b{batch_id}-{digest}" if self.settings.store else digest
            scenarios.append(
                Scenario(
                    id=owner[index],
                    question=item.question,
                    answers=[item.answer, alternative],
                    story=item.story,
                    source="reward",
                )
            )
        plans = [
            replace(
                plan,
                seed=derive_seed(self.settings.seed, plan.scenario.id.split("-")[-1], plan.swap),
            )
            for plan in plan_units(self.bundle, scenarios, seed=self.settings.seed, swap=True)
        ]
        engine = Engine(
            self.bundle,
            self.bindings,
            store=self._open_store(),
            concurrency=max(1, min(self.settings.concurrency, len(plans))),
        )
        records = await engine.run(plans)
        judged: dict[str, list[JudgedOrder]] = {s.id: [] for s in scenarios}
        for record in records:
            p_policy, p_alternative = _probabilities(record) or (None, None)
            order = JudgedOrder(p_policy, p_alternative, swapped=record["swap"])
            judged[record["scenario_id"]].append(order)
        for failure in engine.failures:  # a unit that failed is an invalid verdict
            judged[failure["scenario_id"]].append(JudgedOrder(None, None))
        batch = self._collect(items, alternatives, judged, owner)
        batch.shared = len(owner) - len(scenarios)
        return batch

    def _collect(
        self,
        items: Sequence[RewardItem],
        alternatives: list[str],
        judged: dict[str, list[JudgedOrder]],
        owner: dict[int, str],
    ) -> RewardBatch:
        batch = RewardBatch()
        lam = self.settings.lam
        for index, (item, alternative) in enumerate(zip(items, alternatives, strict=True)):
            orders = judged.get(owner[index]) if index in owner else None
            debated = orders is not None
            orders = orders or []
            batch.identical += not debated and lam > 0.0
            for order in orders:
                batch.units += 1
                if not order.valid:
                    batch.invalid += 1
                elif unit_reward("zero_sum", order) > 0:
                    batch.wins += 1
                elif unit_reward("zero_sum", order) < 0:
                    batch.losses += 1
            r_debate = debate_reward(self.settings.mode, orders)
            r_env = 0.0
            if lam < 1.0:
                batch.missing_gold += not item.gold
                r_env = self.env_reward(item)
            batch.results.append(
                ItemResult(mix(r_env, r_debate, lam), r_debate, r_env, orders, debated, alternative)
            )
        return batch

    def _open_store(self) -> Any:
        if self.settings.store is None:
            return None
        if self._store is None:
            from debate.core.store import RunStore

            self._store = RunStore(self.settings.store)
            spec = {"reward": self.settings.model_dump(mode="json"), **self.bundle.resolved()}
            self._store.write_spec(spec)
        return self._store

    async def aclose(self) -> None:
        await self.bindings.aclose()
        if self._baseline_model is not None:
            await self._baseline_model.aclose()
