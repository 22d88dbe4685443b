"""TRL reward functions built on `DebateRewarder`.

`DebateReward` (sync) and `AsyncDebateReward` follow TRL's reward-function signature:
`prompts`, `completions` (standard or conversational) and the dataset columns as
`**kwargs`. Each returns one reward per completion, or `None` for a row the debate
reward does not apply to (no alternative to debate, in a mixed dataset): TRL then
leaves that row to the other reward functions. Through TRL's `log_metric` each batch
logs the reward's parts (`debate/r_debate`, `debate/r_env`, `debate/invalid`, ...) and
`debate/no_alternative`, the rows given `None`. `correctness_reward` is the
environment reward alone. All three are importable from `debate.rewards`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from debate.analysis.answers import correctness
from debate.rl.loop import BackgroundLoop
from debate.rl.reward import (
    DebateRewarder,
    EnvReward,
    RewardBatch,
    RewardItem,
    RewardSettings,
)


def _text(value: Any) -> str:
    """Text of a TRL prompt or completion: a string, or chat messages (the last one's)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        content = value.get("content", "")
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    if isinstance(value, list) and value:
        return _text(value[-1])
    return ""


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


class _TrlReward:
    """Shared parts of the TRL reward functions: dataset columns in, metrics out.

    Columns read from TRL's `**kwargs` (one value per completion): `question` (else the
    prompt's text), `alternative`, `gold` (or `correct_answers`), `incorrect` (or
    `incorrect_answers`), `story`.
    """

    __name__ = "debate_reward"

    def __init__(
        self,
        settings: RewardSettings | None = None,
        *,
        rewarder: DebateRewarder | None = None,
        env_reward: EnvReward | None = None,
        model_options: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        settings = (settings or RewardSettings()).model_copy(update=overrides)
        self.rewarder = rewarder or DebateRewarder(
            settings, env_reward=env_reward, model_options=model_options
        )
        self.last: RewardBatch | None = None

    @staticmethod
    def items(
        prompts: Sequence[Any], completions: Sequence[Any], columns: dict[str, Any]
    ) -> list[RewardItem]:
        def column(*names: str) -> list[Any]:
            for name in names:
                if columns.get(name) is not None:
                    return list(columns[name])
            return [None] * len(completions)

        rows = zip(
            prompts,
            completions,
            column("question"),
            column("alternative"),
            column("gold", "correct_answers"),
            column("incorrect", "incorrect_answers"),
            column("story"),
            strict=True,
        )
        return [
            RewardItem(
                question=question or _text(prompt),
                answer=_text(completion).strip(),
                alternative=alternative or None,
                gold=_strings(gold),
                incorrect=_strings(incorrect),
                story=story or None,
            )
            for prompt, completion, question, alternative, gold, incorrect, story in rows
        ]

    def applicable(self, items: list[RewardItem]) -> list[int]:
        """Indices of the rows the debate reward applies to (the others get None)."""
        return [i for i, item in enumerate(items) if not self.rewarder.lacks_alternative(item)]

    def report(
        self, batch: RewardBatch, rows: list[int], total: int, columns: dict[str, Any]
    ) -> list[float | None]:
        """Rewards in row order (None for rows not scored); metrics to TRL's loggers."""
        self.last = batch
        rewards: list[float | None] = [None] * total
        r_debate: list[float | None] = [None] * total
        r_env: list[float | None] = [None] * total
        for row, result in zip(rows, batch.results, strict=True):
            rewards[row], r_debate[row], r_env[row] = result.reward, result.r_debate, result.r_env
        log_metric = columns.get("log_metric")
        if callable(log_metric):
            for name, value in batch.metrics().items():
                log_metric(name, value)
            log_metric("debate/no_alternative", float(total - len(rows)))
        log_extra = columns.get("log_extra")
        if callable(log_extra):
            log_extra("r_debate", r_debate)
            log_extra("r_env", r_env)
        return rewards


class AsyncDebateReward(_TrlReward):
    """`GRPOTrainer(reward_funcs=[AsyncDebateReward(...)])`; TRL awaits it on its own loop."""

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        items = self.items(prompts, completions, columns)
        rows = self.applicable(items)
        batch = await self.rewarder.score([items[i] for i in rows]) if rows else RewardBatch()
        return self.report(batch, rows, len(items), columns)


class DebateReward(_TrlReward):
    """`GRPOTrainer(reward_funcs=[DebateReward(...)])`: a plain (synchronous) reward function.

    Its debates run on one background event loop kept for the object's lifetime, so the
    models' micro-batchers persist across batches; it also works inside a running loop.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._background = BackgroundLoop("debate-reward")

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float | None]:
        items = self.items(prompts, completions, columns)
        rows = self.applicable(items)
        scored = [items[i] for i in rows]
        batch = self._background.run(self.rewarder.score(scored)) if rows else RewardBatch()
        return self.report(batch, rows, len(items), columns)

    def close(self) -> None:
        self._background.stop(self.rewarder.aclose())


def correctness_reward(
    prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
) -> list[float]:
    """A TRL environment reward: `correctness` of each completion against its gold column."""
    items = _TrlReward.items(prompts, completions, columns)
    return [correctness(item.answer, item.gold, item.incorrect) for item in items]
