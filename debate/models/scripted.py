"""Deterministic models for tests, demos of mechanics and replays.

`ScriptedModel` answers from a seeded hash of the request (the model name, the call's
seed and the number of messages), so the same request always gives the same text.

- With `config.choices` it returns choice logprobs drawn from the hash, and the text
  `Answer: X` agreeing with the most likely choice.
- When the request asks for an answer line (`Answer: <letter>`, `Answer: <short
  answer>`, ...), it states one in that format: the option letter or the option's
  text, read from the request's own option list (`A: ...` lines, or quoted answers).
  It keeps the answer it gave before in the conversation, except that on about one
  turn in three it adopts the answer the other speaker gave last (so persuaders and
  responders sometimes switch). Asked whether it is convinced, it says yes or no.
- When the request shows a JSON object to fill in, it fills it in.
- Otherwise it writes two stock sentences.
- A text request with an `opening` is continued from it, as a prefilled turn.
Tests pass their own `responder` to script exact replies.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
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

_OPTION_LINE = re.compile(r"(?m)^\s*\(?([A-Z])[:.)]\s+(\S.*?)\s*$")
_QUOTED_ANSWER = re.compile(r"(?i)answer(?:ed|s)?\b[^\"\n]{0,40}\"([^\"\n]{1,200})\"")
_ANSWER_LINE = re.compile(r"(?im)^\W*answer\s*:\s*(.+?)\s*$")
_ASKS_LETTER = re.compile(r"(?i)answer:?\s*(?:<\s*(?:option\s+)?letter\s*>|X\b|\(?[A-Z]\)?\s*\")")
_JSON_TEMPLATE = re.compile(r"\{\s*\"[^{}]*\}", re.S)
_JSON_FIELD = re.compile(r"\"(\w+)\"\s*:\s*([^,}]*(?:\"[^\"]*\"[^,}]*)*)")
_PLACEHOLDER = re.compile(r"(?i)<|\.\.\.|^answer\b|^(?:yes|no|no clear answer)\W*$")
SWITCH_EVERY = 3  # about one answer in this many adopts the other speaker's answer


def _digest(*parts: str) -> int:
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _options(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    """(label, text) of the options the request shows, in order of first appearance."""
    found: dict[str, str] = {}
    for message in messages:
        if message.role == "assistant":
            continue
        for label, text in _OPTION_LINE.findall(message.content):
            if label not in found and not _PLACEHOLDER.search(text):
                found[label] = text
    if len(found) >= 2:
        return sorted(found.items())
    quoted: list[str] = []
    for message in messages:
        for text in _QUOTED_ANSWER.findall(message.content):
            if text not in quoted and not _PLACEHOLDER.search(text):
                quoted.append(text)
    return [(chr(ord("A") + i), text) for i, text in enumerate(quoted)]


def _last_answer(messages: Sequence[ChatMessage], role: str) -> str | None:
    for message in reversed(messages):
        if message.role == role:
            found = _ANSWER_LINE.findall(message.content)
            if found and "<" not in found[-1]:
                return str(found[-1]).strip().strip('"')
    return None


class ScriptedModel:
    """A deterministic stand-in for a language model (see the module docstring)."""

    def __init__(
        self, name: str = "scripted", responder: Responder | None = None, latency_s: float = 0.0
    ) -> None:
        self.name = name
        self.responder = responder
        self.latency_s = latency_s
        self.calls = 0
        self._system_asks: dict[str, bool] = {}

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
            text = f"Answer: {choices[logits.index(top)]}"
            completion_tokens = 2
        else:
            count = len(_PHRASES)
            first = key % count
            second = (first + 1 + (key >> 16) % (count - 1)) % count
            text, completion_tokens = _REPLIES[first][second]
            system = messages[0].content if messages else ""
            asks = self._system_asks.get(system)
            if asks is None:  # a role's system prompt repeats every turn: check it once
                if len(self._system_asks) > 4096:
                    self._system_asks.clear()
                asks = self._system_asks[system] = "nswer:" in system
            if asks or "nswer:" in last or "{" in last or "onvinced" in last:
                text = self._formatted(messages, key, text)
                completion_tokens = len(text.split())
            if completion_tokens > config.max_tokens:
                words = text.split()[: max(1, config.max_tokens)]
                text, completion_tokens = " ".join(words), len(words)
        prefill = config.opening if not choices and config.prefill is not False else ""
        if prefill:  # continue the opening, as a backend that prefills the turn does
            ends_sentence = prefill.rstrip().endswith((".", "!", "?", ":"))
            text = " " + (text if ends_sentence else text[:1].lower() + text[1:])
        return Completion(
            text=text,
            prefill=prefill,
            model=self.name,
            choice_logprobs=logprobs,
            label_mass=1.0 if logprobs else None,  # its scripted distribution has only labels
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens),
        )

    def _formatted(self, messages: Sequence[ChatMessage], key: int, body: str) -> str:
        """A reply in the format the request asks for (answer line, JSON, convinced)."""
        last = messages[-1].content
        template = _JSON_TEMPLATE.search(last)
        options = _options(messages)
        if template is not None:
            return self._fill_json(template.group(0), key, options, body)
        lines = [body]
        if "onvinced" in last:
            lines.append(
                "I am now convinced." if (key >> 24) % SWITCH_EVERY == 0 else "I am not convinced."
            )
        system = messages[0].content
        if ("nswer:" in last or "nswer:" in system) and options:
            index = self._pick(messages, key, options)
            asks_letter = _ASKS_LETTER.search(last) or _ASKS_LETTER.search(system)
            label, text = options[index]
            lines.append(f"Answer: {label if asks_letter else text}")
        return "\n".join(lines)

    @staticmethod
    def _pick(messages: Sequence[ChatMessage], key: int, options: list[tuple[str, str]]) -> int:
        """Keep the answer given before; about one turn in three, adopt the other's."""

        def index_of(answer: str | None) -> int | None:
            if not answer:
                return None
            for i, (label, text) in enumerate(options):
                if answer in (label, text) or answer.strip("()") == label:
                    return i
            return None

        own = index_of(_last_answer(messages, "assistant"))
        other = index_of(_last_answer(messages[1:-1], "user"))
        switch = (key >> 32) % SWITCH_EVERY == 0
        if other is not None and (own is None or switch):
            return other
        if own is not None and switch and len(options) > 1:  # nobody else answered
            return (own + 1 + (key >> 40) % (len(options) - 1)) % len(options)
        if own is not None:
            return own
        return (key >> 40) % len(options)

    @staticmethod
    def _fill_json(template: str, key: int, options: list[tuple[str, str]], body: str) -> str:
        """Fill a JSON object shown as `{"field": <what goes here>, ...}`."""
        filled: dict[str, Any] = {}
        for i, (field, spec) in enumerate(_JSON_FIELD.findall(template)):
            draw = (key >> (4 * i)) & 0xFF
            alternatives = re.findall(r"\"([^\"]*)\"", spec)
            if "true" in spec and "false" in spec:
                filled[field] = draw % 2 == 0
            elif len(alternatives) > 1:
                filled[field] = alternatives[draw % len(alternatives)]
            elif "letter" in spec and options:
                filled[field] = options[draw % len(options)][0]
            elif re.search(r"\d", spec) and not alternatives:
                numbers = [int(n) for n in re.findall(r"\d+", spec)] or [1]
                filled[field] = min(numbers) + draw % (max(numbers) - min(numbers) + 1)
            else:
                filled[field] = body
        return json.dumps(filled)

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
