"""Content-free calibration of a judge's label probabilities.

A judge declared with `calibrate: content-free` (or with the default `auto`, on a
backend that sets `calibrate_verdicts`: the embedded model) divides each answer's
probability by the probability the same judge (same prompts, same model) gives that
answer's label when the question, the answers and the story are replaced by
content-free fillers, then renormalises (Zhao et al., 2021, "Calibrate before use").
This takes out a prior that does not depend on the content, such as a small model's
preference for whichever answer is listed first.

The prior is measured once per judge prompt, model and label set, as the mean over
three fillers (`FILLERS`), and shared by every unit of the run. It is read from
label log-probabilities only, so a backend that cannot give them leaves the verdict
uncalibrated, and a parsed or human verdict is never calibrated. The verdict keeps
the probabilities before calibration (`raw_probs`) and the prior it divided by.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

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


def calibrates(spec: JudgeSpec, model: Model) -> bool:
    """Whether the judge's logprob verdicts from this model are calibrated: as declared,
    or with `auto`, when the backend asks for it (`calibrate_verdicts`)."""
    if spec.calibrate == "auto":
        return bool(getattr(model, "calibrate_verdicts", False))
    return spec.calibrate == "content-free"


def calibrated(probs: list[float], prior: list[float]) -> list[float]:
    """`probs` divided by `prior` label by label, renormalised."""
    scaled = [p / max(q, 1e-9) for p, q in zip(probs, prior, strict=True)]
    total = sum(scaled)
    return [value / total for value in scaled] if total > 0 else list(probs)


def content_free_chat(
    ctx: UnitContext, role: str, spec: JudgeSpec, labels: list[str], filler: str
) -> list[ChatMessage]:
    """The judge's system prompt and instruction with every piece of content replaced by
    `filler`, and no transcript."""
    answers = [filler] * len(ctx.scenario.answers)
    blank: dict[str, Any] = {
        "question": filler,
        "answers": answers,
        "answer_list": "\n".join(f"{label}: {filler}" for label in labels[: len(answers)]),
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
