"""Best-of-N speeches (Khan et al. 2024): sample N candidates, keep the most convincing one.

`best_of_n(ctx, role, instruction, chat, spec)` is what the `speak` step calls when an
agent declares `best_of: N` > 1. It samples N candidate speeches for `role` (each with its
own seed; at temperature 0 it samples at `SAMPLING_TEMPERATURE` instead, since N greedy
samples would be one speech N times), then asks a scoring model, by default the protocol's
verdict judge (or the judge role named in the protocol's or role's params as
`best_of_scorer`), for its verdict on the debate so far with each candidate appended as the
speaker's next turn. A candidate's score is the probability the scorer gives the answer the
speaker defends (0 for an unreadable verdict); the highest score wins, the earliest on a
tie. Every candidate, its score and the choice go into the message meta under `best_of`.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from debate.core.context import UnitContext
from debate.core.declarations import AgentSpec, JudgeSpec
from debate.core.quotes import render_for_judge
from debate.core.speeches import limit_words, speech_text
from debate.models.base import ChatMessage

SAMPLING_TEMPERATURE = 0.8


def scorer_role(ctx: UnitContext, role: str) -> str:
    """The judge role that scores candidates for `role`."""
    params = {**ctx.bundle.protocol.params, **ctx.roles[role].params}
    chosen = params.get("best_of_scorer") or ctx.bundle.protocol.verdict
    if not chosen or chosen not in ctx.roles or not ctx.roles[chosen].is_judge:
        raise ValueError(
            f"best_of: role '{role}' needs a judge to score candidates: set the protocol's "
            "verdict or params.best_of_scorer to a judge role"
        )
    return str(chosen)


def scorer_chat(ctx: UnitContext, scorer: str, role: str, candidate: str) -> list[ChatMessage]:
    """The scorer's view of the unit so far with `candidate` as `role`'s next speech."""
    spec = ctx.roles[scorer].spec
    assert isinstance(spec, JudgeSpec)
    protocol = ctx.bundle.protocol
    shown, _ = render_for_judge(
        candidate, ctx.scenario.story, protocol.quotes, protocol.quote_threshold
    )
    speech = f"{ctx.roles[role].speaker}: {shown}"
    instruction = ctx.render(scorer, spec.instruction)
    chat = ctx.view(scorer, "")
    tail = f"{speech}\n\n{instruction}"
    if chat[-1].role == "user":
        return [*chat[:-1], ChatMessage("user", f"{chat[-1].content}\n\n{tail}")]
    return [*chat, ChatMessage("user", tail)]


async def score_candidate(ctx: UnitContext, scorer: str, role: str, candidate: str) -> float:
    """The scorer's probability for the answer `role` defends, given the candidate."""
    from debate.core.judges import choice_probabilities, verdict_config

    spec = ctx.roles[scorer].spec
    assert isinstance(spec, JudgeSpec)
    labels = spec.choices or ctx.labels
    defended = ctx.defends.get(role)
    if defended is None:
        raise ValueError(f"best_of: role '{role}' defends no answer, so nothing to score")
    config = replace(verdict_config(spec, labels, ctx.next_seed(), ctx.epoch), temperature=0.0)
    chat = scorer_chat(ctx, scorer, role, candidate)
    completion = await ctx.complete(scorer, chat, config, kind="score", stream=False)
    probs = choice_probabilities(completion, labels, spec)
    return float(probs[defended]) if probs is not None and defended < len(probs) else 0.0


async def best_of_n(
    ctx: UnitContext, role: str, instruction: str, chat: Any, spec: AgentSpec
) -> tuple[str, dict[str, Any], int]:
    """(chosen text, message meta, completion tokens of all candidates)."""
    scorer = scorer_role(ctx, role)
    temperature = spec.temperature if spec.temperature > 0 else SAMPLING_TEMPERATURE
    configs = [
        replace(ctx.agent_config(role, spec), temperature=temperature) for _ in range(spec.best_of)
    ]
    completions = await asyncio.gather(
        *(ctx.complete(role, chat, config, stream=False) for config in configs)
    )
    candidates: list[str] = []
    truncated: list[bool] = []
    for completion in completions:
        text = speech_text(completion, configs[0].opening, spec.extract_tag)
        text, cut = limit_words(text, ctx.word_limit(role))
        candidates.append(text)
        truncated.append(cut)
    scores = list(
        await asyncio.gather(*(score_candidate(ctx, scorer, role, c) for c in candidates))
    )
    best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    meta: dict[str, Any] = {
        "best_of": {
            "n": spec.best_of,
            "scorer": scorer,
            "chosen": best,
            "scores": scores,
            "candidates": candidates,
            "temperature": temperature,
        }
    }
    if truncated[best]:
        meta["truncated"] = True
    if configs[0].opening:  # empty for agents with an extract_tag
        meta["opening"] = configs[0].opening  # declared text, not the model's
    tokens = sum(c.usage.completion_tokens for c in completions)
    return candidates[best], meta, tokens
