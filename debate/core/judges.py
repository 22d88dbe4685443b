"""Verdict elicitation: choice logprobs when the backend has them, else parsing with retries.

A verdict is a probability for every answer, in the unit's answer order. A reply
that cannot be read after the retries is kept as an invalid verdict with its raw
text, and is never counted as correct. A judge with a panel asks each member and
aggregates their verdicts (`debate.core.panels`).
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import replace
from functools import lru_cache

from debate.core.context import UnitContext
from debate.core.declarations import JudgeSpec
from debate.core.events import VerdictGiven
from debate.core.panels import panel_verdict, top_choice
from debate.core.record import Verdict
from debate.models.base import ChatMessage, GenerateConfig, Model


@lru_cache(maxsize=64)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def probabilities_from_logprobs(
    logprobs: dict[str, float], labels: list[str]
) -> list[float] | None:
    values = [logprobs.get(label) for label in labels]
    if any(value is None or not math.isfinite(value) for value in values):
        return None
    top = max(v for v in values if v is not None)
    weights = [math.exp(v - top) for v in values if v is not None]
    total = sum(weights)
    return [w / total for w in weights]


DEFAULT_PARSE = JudgeSpec.model_fields["parse_pattern"].default
DEFAULT_CONFIDENCE = JudgeSpec.model_fields["confidence_pattern"].default


def parse_verdict(
    text: str,
    labels: list[str],
    pattern: str = DEFAULT_PARSE,
    confidence_pattern: str = DEFAULT_CONFIDENCE,
) -> list[float] | None:
    """Read `Answer: X` (and an optional confidence) from a reply, or None."""
    matches = [m for m in _pattern(pattern).finditer(text) if m.group(1) in labels]
    if not matches:
        stripped = text.strip().strip("*().:").strip()
        if stripped in labels:
            chosen = labels.index(stripped)
        else:
            return None
    else:
        chosen = labels.index(matches[-1].group(1))
    confidence = 1.0
    found = _pattern(confidence_pattern).search(text)
    if found:
        value = float(found.group(1))
        if found.group(2) == "%" or value > 1.0:
            value /= 100.0
        if 0.0 <= value <= 1.0:
            confidence = value
    if len(labels) == 1:
        return [1.0]
    rest = (1.0 - confidence) / (len(labels) - 1)
    return [confidence if i == chosen else rest for i in range(len(labels))]


async def elicit_verdict(ctx: UnitContext, role: str, *, final: bool) -> Verdict:
    """Ask a judge role (or each member of its panel) for a verdict on the unit so far."""
    bound = ctx.roles[role]
    spec = bound.spec
    assert isinstance(spec, JudgeSpec)
    if bound.seats and spec.panel is not None:
        members = await asyncio.gather(
            *(
                ask_for_verdict(
                    ctx,
                    role,
                    seat.spec,
                    final=final,
                    model=seat.model,
                    system=ctx.render(role, seat.spec.system),
                )
                for seat in bound.seats
            )
        )
        verdict = panel_verdict(
            members,
            [(seat.label, seat.spec.name, seat.model.name) for seat in bound.seats],
            how=spec.panel.aggregate,
            role=role,
            round=ctx.round,
            final=final,
            at_message=len(ctx.messages),
        )
    else:
        verdict = await ask_for_verdict(ctx, role, spec, final=final)
    ctx.add_verdict(verdict)
    ctx.emit(
        VerdictGiven(
            ctx.unit_id,
            ctx.round,
            role,
            tuple(verdict.probs) if verdict.probs else None,
            verdict.valid,
            final,
            ctx.scenario.correct_index if final else None,
        )
    )
    return verdict


async def ask_for_verdict(
    ctx: UnitContext,
    role: str,
    spec: JudgeSpec,
    *,
    final: bool,
    model: Model | None = None,
    system: str | None = None,
) -> Verdict:
    """One judge's verdict: choice logprobs when the backend gives them, else the parsed
    reply, with retries; `model` and `system` are a panel member's (default: the role's)."""
    labels = spec.choices or ctx.labels
    instruction = ctx.render(role, spec.instruction)
    chat = ctx.view(role, instruction, system)
    use_logprobs = spec.method == "logprobs"
    # a backend answered by a person is always given the labels, whatever the method
    asks_person = getattr(model or ctx.roles[role].model, "answers_choices", False)
    config = GenerateConfig(
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
        seed=ctx.next_seed(),
        choices=tuple(labels) if use_logprobs or asks_person else None,
        epoch=ctx.epoch,
    )
    raws: list[str] = []
    for attempt in range(1, spec.retries + 2):
        completion = await ctx.complete(
            role, chat, config, kind="verdict", stream=False, model=model
        )
        raws.append(completion.text)
        probs = None
        method = "parse"
        if completion.choice_probs:
            given = [completion.choice_probs.get(label, 0.0) for label in labels]
            total = sum(given)
            probs = [p / total for p in given] if total > 0 else None
            method = "human"
        elif use_logprobs and completion.choice_logprobs:
            probs = probabilities_from_logprobs(completion.choice_logprobs, labels)
            method = "logprobs"
        if probs is None:
            probs = parse_verdict(
                completion.text, labels, spec.parse_pattern, spec.confidence_pattern
            )
            method = "parse"
        if probs is not None:
            return Verdict(
                role=role,
                round=ctx.round,
                probs=probs,
                chosen=top_choice(probs),
                valid=True,
                method=method,  # type: ignore[arg-type]
                raw=completion.text,
                attempts=attempt,
                final=final,
                at_message=len(ctx.messages),
                meta=completion.meta,
            )
        chat = [
            *chat,
            ChatMessage(role="assistant", content=completion.text or "(no reply)"),
            ChatMessage(role="user", content=ctx.render(role, spec.retry_instruction)),
        ]
        config = replace(config, seed=ctx.next_seed(), choices=None)
    return Verdict(
        role=role,
        round=ctx.round,
        probs=None,
        chosen=None,
        valid=False,
        method="none",
        raw="\n---\n".join(raws),
        attempts=spec.retries + 1,
        final=final,
        at_message=len(ctx.messages),
    )
