"""Verdict elicitation: label log-probabilities where the label is produced, else parsing.

A verdict is a probability for every answer, in the unit's answer order. How it is read:

1. The judge asks for labels with its `answer_prefix` (default `Answer:`, the form its
   prompt asks for). The backend reads the labels' distribution at the token that
   produces the label: after a prefilled `Answer:` turn where it can prefill, else at
   the position of its reply right after `Answer:` (see `debate.models.label_reading`).
   The backend also reports `label_mass`, the labels' total probability there.
2. The log-probabilities are trusted only when the label mass reaches the judge's
   `min_label_mass` (0.5 by default). Otherwise, or when the backend could not read the
   labels at all, the reply's text is parsed instead and the verdict records
   `method: parse` with the reason in `fallback`.
3. Parsing reads the stated answer (`Answer: X`) and an optional confidence. The stated
   answer always stays the chosen one: it gets the confidence and the other answers share
   the rest; a confidence at or below 1/k (k answers) would put another answer level or on
   top, so it is recorded (`confidence`, `confidence_contradicts` when below 1/k) and the
   stated answer gets 1/k + 0.01 instead. A reply with no confidence gives the stated
   answer probability 1.

A reply that cannot be read after the retries is kept as an invalid verdict with its raw
text, and is never counted as correct. A judge with a panel asks each member and
aggregates their verdicts (`debate.core.panels`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from debate.core.calibration import (
    averaged,
    calibrated,
    calibration_method,
    content_free_prior,
    reordered_variables,
)
from debate.core.context import UnitContext
from debate.core.declarations import JudgeSpec
from debate.core.events import VerdictGiven
from debate.core.panels import panel_verdict, top_choice
from debate.core.record import Verdict
from debate.models.base import ChatMessage, Completion, GenerateConfig, Model
from debate.models.label_reading import probabilities_from_logprobs

CONTRADICTION_MARGIN = 0.01
"""How far above uniform a stated answer stays when its confidence says otherwise."""


@lru_cache(maxsize=64)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


DEFAULT_PARSE = JudgeSpec.model_fields["parse_pattern"].default
DEFAULT_CONFIDENCE = JudgeSpec.model_fields["confidence_pattern"].default
DEFAULT_MIN_LABEL_MASS = JudgeSpec.model_fields["min_label_mass"].default


@dataclass(slots=True)
class StatedVerdict:
    """What a reply's text says: the stated answer, its confidence and the probabilities."""

    chosen: int
    probs: list[float]
    confidence: float | None
    contradicts: bool


def read_confidence(text: str, pattern: str = DEFAULT_CONFIDENCE) -> float | None:
    """The confidence a reply writes, on [0, 1]: `30%`, `0.3`, `30/100`, `30` (a
    percentage, being above 1), `3 out of 10`; None when absent or out of range."""
    found = _pattern(pattern).search(text)
    if not found:
        return None
    value = float(found.group(1))
    unit = (found.group(2) if found.lastindex and found.lastindex >= 2 else None) or ""
    unit = unit.strip().lower()
    if unit == "%":
        value /= 100.0
    elif unit:
        denominator = float(re.sub(r"^(?:/|out\s+of)\s*", "", unit))
        if denominator <= 0:
            return None
        value /= denominator
    elif value > 1.0:
        value /= 100.0
    return value if 0.0 <= value <= 1.0 else None


def read_stated(
    text: str,
    labels: list[str],
    pattern: str = DEFAULT_PARSE,
    confidence_pattern: str = DEFAULT_CONFIDENCE,
) -> StatedVerdict | None:
    """Read `Answer: X` (the last one) and an optional confidence from a reply, or None."""
    matches = [m for m in _pattern(pattern).finditer(text) if m.group(1) in labels]
    if matches:
        chosen = labels.index(matches[-1].group(1))
    else:
        stripped = text.strip().strip("*().:").strip()
        if stripped not in labels:
            return None
        chosen = labels.index(stripped)
    confidence = read_confidence(text, confidence_pattern)
    count = len(labels)
    if count == 1:
        return StatedVerdict(0, [1.0], confidence, False)
    uniform = 1.0 / count
    stated = 1.0 if confidence is None else confidence
    contradicts = confidence is not None and confidence < uniform
    if stated <= uniform:  # level with or under the others: keep the stated answer on top
        stated = uniform + CONTRADICTION_MARGIN
    rest = (1.0 - stated) / (count - 1)
    probs = [stated if i == chosen else rest for i in range(count)]
    return StatedVerdict(chosen, probs, confidence, contradicts)


def parse_verdict(
    text: str,
    labels: list[str],
    pattern: str = DEFAULT_PARSE,
    confidence_pattern: str = DEFAULT_CONFIDENCE,
) -> list[float] | None:
    """The probabilities `read_stated` gives, or None when the reply states no answer."""
    stated = read_stated(text, labels, pattern, confidence_pattern)
    return stated.probs if stated is not None else None


def trusted_logprobs(
    completion: Completion, labels: list[str], min_label_mass: float = DEFAULT_MIN_LABEL_MASS
) -> tuple[list[float] | None, str | None]:
    """(probabilities from the completion's label log-probabilities, None) when they can
    be trusted, else (None, the reason). A backend that reports no mass (a scripted or
    custom one) is taken at its word."""
    if not completion.choice_logprobs:
        return None, completion.label_note or "the model returned no label log-probabilities"
    mass = completion.label_mass
    if mass is not None and mass < min_label_mass:
        return None, f"label mass {mass:.3f} below {min_label_mass:g}"
    probs = probabilities_from_logprobs(completion.choice_logprobs, labels)
    if probs is None:
        return None, "a label has no finite log-probability"
    return probs, None


def choice_probabilities(
    completion: Completion, labels: list[str], spec: JudgeSpec | None = None
) -> list[float] | None:
    """Probabilities for a choice reply (a best-of score, a side chosen): trusted label
    log-probabilities, else the parsed text; None when neither gives any."""
    threshold = spec.min_label_mass if spec is not None else DEFAULT_MIN_LABEL_MASS
    probs, _ = trusted_logprobs(completion, labels, threshold)
    if probs is not None:
        return probs
    pattern = spec.parse_pattern if spec is not None else DEFAULT_PARSE
    confidence = spec.confidence_pattern if spec is not None else DEFAULT_CONFIDENCE
    return parse_verdict(completion.full_text, labels, pattern, confidence)


@dataclass(slots=True)
class Reading:
    """What one reply gave a verdict: probabilities (None: nothing readable) and how."""

    probs: list[float] | None = None
    method: str = "none"
    label_mass: float | None = None
    label_position: int | None = None
    fallback: str | None = None
    confidence: float | None = None
    contradicts: bool = False


def read_reply(
    completion: Completion, labels: list[str], spec: JudgeSpec, asked_logprobs: bool
) -> Reading:
    """Probabilities a person gave, trusted label log-probabilities when asked for, else
    the parsed text."""
    reading = Reading()
    if completion.choice_probs:
        given = [completion.choice_probs.get(label, 0.0) for label in labels]
        total = sum(given)
        if total > 0:
            reading.probs, reading.method = [p / total for p in given], "human"
            return reading
    if asked_logprobs:
        reading.label_mass = completion.label_mass
        reading.label_position = completion.label_position
        probs, reason = trusted_logprobs(completion, labels, spec.min_label_mass)
        if probs is not None:
            reading.probs, reading.method = probs, "logprobs"
            return reading
        reading.fallback = reason
    stated = read_stated(completion.full_text, labels, spec.parse_pattern, spec.confidence_pattern)
    if stated is not None:
        reading.probs, reading.method = stated.probs, "parse"
        reading.confidence, reading.contradicts = stated.confidence, stated.contradicts
    return reading


def verdict_config(
    spec: JudgeSpec, labels: list[str], seed: int, epoch: int, *, asks_person: bool = False
) -> GenerateConfig:
    """The request of a judge's first verdict attempt."""
    use_logprobs = spec.method == "logprobs"
    return GenerateConfig(
        max_tokens=spec.max_tokens,
        temperature=spec.temperature,
        seed=seed,
        choices=tuple(labels) if use_logprobs or asks_person else None,
        answer_prefix=spec.answer_prefix if use_logprobs else None,
        prefill=spec.prefill,
        epoch=epoch,
    )


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


async def calibrate(
    ctx: UnitContext,
    role: str,
    spec: JudgeSpec,
    labels: list[str],
    probs: list[float],
    config: GenerateConfig,
    model: Model | None,
) -> tuple[list[float], dict[str, Any]] | None:
    """The judge's corrected probabilities and what was done (`debate.core.calibration`),
    or None when there is nothing to correct or the correction could not be read."""
    bound_model = model or ctx.roles[role].model
    method = calibration_method(spec, bound_model)
    if method == "content-free":
        prior = await content_free_prior(ctx, role, spec, labels, bound_model)
        if prior is None:
            return None
        return calibrated(probs, prior), {"method": method, "prior": prior}
    if method != "both-orders" or labels != ctx.labels or len(labels) < 2:
        return None  # no correction, or labels that do not name the unit's answers
    order = list(reversed(range(len(labels))))
    shown = reordered_variables(ctx, labels, order)
    chat = ctx.view(
        role, ctx.render(role, spec.instruction, shown), ctx.render(role, spec.system, shown)
    )
    completion = await ctx.complete(role, chat, config, kind="verdict", stream=False, model=model)
    second = read_reply(completion, labels, spec, asked_logprobs=True)
    if second.method != "logprobs" or second.probs is None:
        return None
    reversed_probs = [0.0] * len(labels)
    for position, answer in enumerate(order):
        reversed_probs[answer] = second.probs[position]
    return averaged(probs, reversed_probs), {"method": method, "reversed_probs": reversed_probs}


async def ask_for_verdict(
    ctx: UnitContext,
    role: str,
    spec: JudgeSpec,
    *,
    final: bool,
    model: Model | None = None,
    system: str | None = None,
) -> Verdict:
    """One judge's verdict: trusted label log-probabilities, else the parsed reply, with
    retries; `model` and `system` are a panel member's (default: the role's)."""
    labels = spec.choices or ctx.labels
    instruction = ctx.render(role, spec.instruction)
    chat = ctx.view(role, instruction, system)
    # a backend answered by a person is always given the labels, whatever the method
    asks_person = getattr(model or ctx.roles[role].model, "answers_choices", False)
    config = verdict_config(spec, labels, ctx.next_seed(), ctx.epoch, asks_person=asks_person)
    raws: list[str] = []
    labels_read = Reading()  # the first attempt's label reading (retries ask for text only)
    for attempt in range(1, spec.retries + 2):
        completion = await ctx.complete(
            role, chat, config, kind="verdict", stream=False, model=model
        )
        raws.append(completion.full_text)
        reading = read_reply(completion, labels, spec, config.choices is not None)
        if config.choices is not None:
            labels_read = reading
        if reading.probs is not None:
            raw_probs = calibration = None
            if reading.method == "logprobs":
                corrected = await calibrate(ctx, role, spec, labels, reading.probs, config, model)
                if corrected is not None:
                    raw_probs, (reading.probs, calibration) = reading.probs, corrected
            return Verdict(
                role=role,
                round=ctx.round,
                probs=reading.probs,
                chosen=top_choice(reading.probs),
                valid=True,
                method=reading.method,  # type: ignore[arg-type]
                raw=completion.full_text,
                attempts=attempt,
                final=final,
                label_mass=labels_read.label_mass,
                label_position=labels_read.label_position,
                fallback=labels_read.fallback,
                confidence=reading.confidence,
                confidence_contradicts=reading.contradicts,
                raw_probs=raw_probs,
                calibration=calibration,
                at_message=len(ctx.messages),
                meta=completion.meta,
            )
        chat = [
            *chat,
            ChatMessage(role="assistant", content=completion.full_text or "(no reply)"),
            ChatMessage(role="user", content=ctx.render(role, spec.retry_instruction)),
        ]
        config = replace(config, seed=ctx.next_seed(), choices=None, answer_prefix=None)
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
        label_mass=labels_read.label_mass,
        label_position=labels_read.label_position,
        fallback=labels_read.fallback,
        at_message=len(ctx.messages),
    )
