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

# every two-phrase reply the default answerer can give, with its word count
_REPLIES = [
    [(text, len(text.split())) for text in (f"{first} {second}" for second in _PHRASES)]
    for first in _PHRASES
]


def _digest(*parts: str) -> int:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


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
        prompt_tokens = sum([len(m.content) for m in messages]) // 4
        logprobs = None
        choices = config.choices
        if choices:
            logits = [((key >> (8 * i)) & 0xFF) / 64.0 for i in range(len(choices))]
            top = max(logits)
            norm = top + math.log(sum([math.exp(value - top) for value in logits]))
            logprobs = {c: v - norm for c, v in zip(choices, logits, strict=True)}
            best = choices[logits.index(top)]
            text = f"Answer: {best}"
            completion_tokens = 2
        else:
            count = len(_PHRASES)
            first = key % count
            second = (first + 1 + (key >> 16) % (count - 1)) % count
            text, completion_tokens = _REPLIES[first][second]
            if completion_tokens > config.max_tokens:
                words = text.split()[: max(1, config.max_tokens)]
                text, completion_tokens = " ".join(words), len(words)
        return Completion(
            text=text,
            model=self.name,
            choice_logprobs=logprobs,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
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
