"""Correcting a judge's label preference (`calibrate:` in a judge declaration).

A weak judge leans to one label whatever the content; the embedded SmolLM2-135M picks
whichever answer is listed first most of the time. Two corrections, both applied only to
verdicts read from label log-probabilities (a parsed or a person's verdict is kept as
given), both keeping what they did in the verdict (`raw_probs`, `calibration`):

- `both-orders`: the judge is asked a second time with the answers listed in reverse
  order (same labels, same transcript), and the two readings are averaged answer by
  answer ("balanced position calibration", Wang et al., 2023, "Large language models
  are not fair evaluators"). One more verdict call per verdict. If the second reading is
  not trusted (no label log-probabilities, label mass under the judge's
  `min_label_mass`), the verdict stays as first read.
- `content-free`: each answer's probability is divided by the probability the same judge
  gives its label when the question, the answers and the story are replaced by
  content-free fillers (`FILLERS`, averaged; no transcript), then renormalised (Zhao et
  al., 2021, "Calibrate before use"). The prior is measured once per run, judge prompt
  and model.

`auto` (the default) is `both-orders` on backends that ask for it (`calibrate_verdicts`:
the embedded model) and no correction elsewhere; `none` never corrects.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from debate.core.context import answer_list
from debate.core.declarations import JudgeSpec
from debate.models.base import ChatMessage, Completion, GenerateConfig, Model
from debate.models.label_reading import probabilities_from_logprobs

if TYPE_CHECKING:
    from debate.core.context import UnitContext

FILLERS = ("N/A", "[MASK]", "")
"""Content-free stand-ins for the question, each answer and the story."""

_PRIORS: weakref.WeakKeyDictionary[Model, dict[tuple[Any, ...], asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)


def calibration_method(spec: JudgeSpec, model: Model) -> str:
    """The correction for this judge on this model: as declared, or with `auto`, the
    backend's wish (`both-orders` where `calibrate_verdicts` is set, else `none`)."""
    if spec.calibrate == "auto":
        return "both-orders" if getattr(model, "calibrate_verdicts", False) else "none"
    return spec.calibrate


def calibrated(probs: list[float], prior: list[float]) -> list[float]:
    """`probs` divided by `prior` label by label, renormalised."""
    scaled = [p / max(q, 1e-9) for p, q in zip(probs, prior, strict=True)]
    total = sum(scaled)
    return [value / total for value in scaled] if total > 0 else list(probs)


def averaged(probs: list[float], other: list[float]) -> list[float]:
    """The answer-by-answer mean of two readings."""
    return [(p + q) / 2 for p, q in zip(probs, other, strict=True)]


def reordered_variables(ctx: UnitContext, labels: list[str], order: list[int]) -> dict[str, Any]:
    """Template variables that list the unit's answers in `order` (labels stay put)."""
    answers = [ctx.scenario.answers[i] for i in order]
    return {"answers": answers, "answer_list": answer_list(labels, answers)}


def content_free_chat(
    ctx: UnitContext, role: str, spec: JudgeSpec, labels: list[str], filler: str
) -> list[ChatMessage]:
    """The judge's system prompt and instruction with every piece of content replaced by
    `filler`, and no transcript."""
    answers = [filler] * len(ctx.scenario.answers)
    blank: dict[str, Any] = {
        "question": filler,
        "answers": answers,
        "answer_list": answer_list(labels, answers),
        "story": filler if ctx.template_variables(role).get("story") else None,
        "fields": {},
    }
    chat = [ChatMessage("system", ctx.render(role, spec.system, blank))]
    instruction = ctx.render(role, spec.instruction, blank)
    if instruction:
        chat.append(ChatMessage("user", instruction))
    return chat


async def content_free_prior(
    ctx: UnitContext, role: str, spec: JudgeSpec, labels: list[str], model: Model
) -> list[float] | None:
    """The judge's mean label probabilities over the content-free prompts (None when the
    backend gives no label log-probabilities), measured once per run and prompt."""
    chats = [content_free_chat(ctx, role, spec, labels, filler) for filler in FILLERS]
    key = (tuple(labels), spec.answer_prefix, repr(chats))
    loop = asyncio.get_running_loop()
    known = _PRIORS.setdefault(model, {})
    task = known.get(key)
    if task is None or task.get_loop() is not loop:
        task = known[key] = loop.create_task(_measure(ctx, role, spec, labels, model, chats))
    return await asyncio.shield(task)


async def _measure(
    ctx: UnitContext,
    role: str,
    spec: JudgeSpec,
    labels: list[str],
    model: Model,
    chats: list[list[ChatMessage]],
) -> list[float] | None:
    config = GenerateConfig(
        max_tokens=1,
        temperature=0.0,
        seed=0,
        choices=tuple(labels),
        answer_prefix=spec.answer_prefix,
        prefill=spec.prefill,
    )
    completions = await asyncio.gather(*(model.generate(chat, config) for chat in chats))
    priors = [_label_probs(completion, labels) for completion in completions]
    for completion in completions:
        ctx.count_usage(role, completion)
    readable = [prior for prior in priors if prior is not None]
    if len(readable) < len(priors):
        return None
    return [sum(column) / len(readable) for column in zip(*readable, strict=True)]


def _label_probs(completion: Completion, labels: list[str]) -> list[float] | None:
    if not completion.choice_logprobs:
        return None
    return probabilities_from_logprobs(completion.choice_logprobs, labels)
