"""Deterministic models for tests, demos of mechanics and replays.

`ScriptedModel` answers from a seeded hash of the request, so the same request
always gives the same text, and it offers choice logprobs for verdicts. Tests pass
their own `responder` to script exact replies.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from debate.models.base import ChatMessage, Completion, DeltaCallback, GenerateConfig, Usage

Responder = Callable[[Sequence[ChatMessage], GenerateConfig], "str | Completion"]

_PHRASES = (
    "The evidence points one way.",
    "My opponent overlooks the key detail.",
    "Consider what the question actually asks.",
    "This answer is consistent with every fact we have.",
    "The alternative leaves too much unexplained.",
    "A careful reading supports my position.",
    "Nothing in the record contradicts this.",
    "That objection does not survive scrutiny.",
)


def _digest(*parts: str) -> int:
    hasher = hashlib.blake2b(digest_size=8)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return int.from_bytes(hasher.digest(), "big")


class ScriptedModel:
    """A deterministic stand-in for a language model.

    Without a responder it writes two stock sentences picked by a hash of the
    request and, when `config.choices` is set, returns choice logprobs drawn from
    the same hash with the text `Answer: X` agreeing with the most likely choice.
    """

    def __init__(
        self, name: str = "scripted", responder: Responder | None = None, latency_s: float = 0.0
    ) -> None:
        self.name = name
        self.responder = responder
        self.latency_s = latency_s
        self.calls = 0

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        self.calls += 1
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if self.responder is not None:
            reply = self.responder(messages, config)
            completion = (
                reply if isinstance(reply, Completion) else Completion(text=reply, model=self.name)
            )
        else:
            completion = self._default(messages, config)
        if on_delta is not None and completion.text:
            on_delta(completion.text)
        return completion

    def _default(self, messages: Sequence[ChatMessage], config: GenerateConfig) -> Completion:
        last = messages[-1].content if messages else ""
        key = _digest(self.name, str(config.seed), str(len(messages)), last)
        prompt_tokens = sum(len(m.content) for m in messages) // 4
        if config.choices:
            logits = [((key >> (8 * i)) & 0xFF) / 64.0 for i in range(len(config.choices))]
            top = max(logits)
            norm = top + math.log(sum(math.exp(value - top) for value in logits))
            logprobs = {c: v - norm for c, v in zip(config.choices, logits, strict=True)}
            best = max(logprobs, key=lambda choice: logprobs[choice])
            text = f"Answer: {best}"
            return Completion(
                text=text,
                model=self.name,
                choice_logprobs=logprobs,
                usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=2),
            )
        first = _PHRASES[key % len(_PHRASES)]
        second = _PHRASES[
            (key % len(_PHRASES) + 1 + (key >> 16) % (len(_PHRASES) - 1)) % len(_PHRASES)
        ]
        text = f"{first} {second}"
        words = text.split()[: max(1, config.max_tokens)]
        text = " ".join(words)
        return Completion(
            text=text,
            model=self.name,
            choice_logprobs=None,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=len(words)),
        )

    async def aclose(self) -> None:
        return None


class InvalidModel(ScriptedModel):
    """Always answers with text no verdict parser accepts, and no logprobs."""

    def __init__(self, name: str = "scripted/invalid") -> None:
        super().__init__(name, responder=lambda _messages, _config: "I cannot decide.")


def create(rest: str, **options: Any) -> ScriptedModel:
    """`scripted`, `scripted/<name>`, `scripted/invalid`, or `scripted/latency-<ms>`
    (answers after a simulated delay, for scheduling and scaling benchmarks)."""
    if rest == "invalid":
        return InvalidModel()
    latency = re.fullmatch(r"latency-(\d+(?:\.\d+)?)", rest)
    latency_ms = float(latency.group(1)) if latency else float(options.get("latency_ms", 0.0))
    name = f"scripted/{rest}" if rest else "scripted"
    return ScriptedModel(name=name, responder=options.get("responder"), latency_s=latency_ms / 1000)
