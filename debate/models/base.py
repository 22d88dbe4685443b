"""The model interface every backend implements, and the data it exchanges.

A backend knows nothing about debates: it turns chat messages and a sampling
configuration into a `Completion` (text, optional choice logprobs, usage).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(slots=True)
class ChatMessage:
    """One chat message. A plain dataclass: views build many of these per turn."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True)
class GenerateConfig:
    """Sampling settings for one request.

    `choices`, when set, asks the backend for the log-probabilities of each choice
    label (e.g. ("A", "B")) at the position where the reply emits the label: right after
    `answer_prefix` (e.g. "Answer:") when one is given, else at the start of the reply.
    Backends that can prefill the assistant turn with `answer_prefix` do so (`prefill`:
    "auto" lets the backend decide, True insists, False never prefills), so the label
    is the first generated token. Backends that cannot read the labels return
    `choice_logprobs=None` and callers fall back to parsing.
    Change one with `dataclasses.replace(config, seed=...)`.

    Repetition controls (None: the backend's default; see `GENERATION_CONTROLS`):
    `repetition_penalty` divides the scores of tokens the reply already holds (its own
    tokens only, never the prompt's, so a speech can still restate the question and its
    answer); `no_repeat_ngram_size` forbids repeating an n-gram of the reply;
    `frequency_penalty` / `presence_penalty` subtract per earlier use / once used, as
    OpenAI-compatible servers do (they receive these two and `stop`);
    `no_copy_ngram_size` forbids reproducing an n-gram (in tokens) of the conversation's
    earlier messages, the system prompt excepted (it holds the question and answers a
    reply may restate).

    `opening` is assistant text a text reply (no `choices`) starts with. Backends that
    can prefill the turn continue it, and report it as the completion's `prefill` (under
    the same `prefill` setting as an answer prefix); the others ignore it.
    """

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    answer_prefix: str | None = None
    prefill: bool | Literal["auto"] = "auto"
    epoch: int = 0  # repeat index; backends ignore it, the cache keys on it
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    no_copy_ngram_size: int | None = None
    opening: str = ""


GENERATION_CONTROLS = (
    "repetition_penalty",
    "no_repeat_ngram_size",
    "frequency_penalty",
    "presence_penalty",
    "no_copy_ngram_size",
)


def with_defaults(config: GenerateConfig, defaults: dict[str, Any] | None) -> GenerateConfig:
    """The config with each repetition control it leaves unset (None) taken from
    `defaults` (a backend's own defaults)."""
    if not defaults:
        return config
    missing = {
        name: value
        for name, value in defaults.items()
        if value is not None and getattr(config, name) is None
    }
    return replace(config, **missing) if missing else config


@dataclass(slots=True)
class Usage:
    """Tokens of one call. `cached_prompt_tokens` is the part of `prompt_tokens` the
    server served from its prompt cache (OpenAI's `prompt_tokens_details.cached_tokens`),
    which providers bill at a lower price."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


@dataclass(slots=True)
class Completion:
    """A model's reply.

    This and the types above are plain slotted dataclasses, neither validated nor frozen
    (freezing costs about a microsecond per object): the engine makes several per turn,
    backends build them, users never write them. Treat them as immutable; change one with
    `dataclasses.replace`.

    For a request with choices: `choice_logprobs` are the labels' log-probabilities
    renormalised over the labels, read at `label_position` (the index of the generated
    token that emits the label); `label_mass` is the labels' total probability there
    before renormalising (None when the backend cannot tell); `label_note` says why the
    labels could not be read. `prefill` is the assistant text the reply continues (the
    answer prefix, when the backend prefilled the turn with it); `text` excludes it."""

    text: str
    model: str
    choice_logprobs: dict[str, float] | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False
    choice_probs: dict[str, float] | None = None
    """Probabilities given directly per choice label rather than read from tokens: a
    person's answer (the `human` backend). Verdicts read them as method `human`."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Facts about how the answer was made (a person's name, seconds taken, reason)."""
    label_mass: float | None = None
    label_position: int | None = None
    label_note: str | None = None
    prefill: str = ""

    @property
    def full_text(self) -> str:
        """The assistant turn as a reader sees it: the prefill, then the reply."""
        return self.prefill + self.text

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes) -> Completion:
        """Read `to_json` output; ValueError when it is not a completion."""
        raw = json.loads(data)
        try:
            usage = raw.get("usage") or {}
            logprobs = raw.get("choice_logprobs")
            return cls(
                text=str(raw["text"]),
                model=str(raw["model"]),
                choice_logprobs=(
                    {str(k): float(v) for k, v in logprobs.items()} if logprobs else None
                ),
                usage=Usage(
                    int(usage.get("prompt_tokens", 0)),
                    int(usage.get("completion_tokens", 0)),
                    int(usage.get("cached_prompt_tokens", 0)),
                ),
                cached=bool(raw.get("cached", False)),
                choice_probs=(
                    {str(k): float(v) for k, v in raw["choice_probs"].items()}
                    if raw.get("choice_probs")
                    else None
                ),
                meta=dict(raw.get("meta") or {}),
                label_mass=_optional(raw.get("label_mass"), float),
                label_position=_optional(raw.get("label_position"), int),
                label_note=_optional(raw.get("label_note"), str),
                prefill=str(raw.get("prefill") or ""),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a stored completion: {exc}") from None


def _optional(value: Any, kind: Callable[[Any], Any]) -> Any:
    return None if value is None else kind(value)


DeltaCallback = Callable[[str], None]

request_tag: ContextVar[str | None] = ContextVar("request_tag", default=None)
"""Which conversation the current task's requests belong to (the engine sets the unit
id). Backends may ignore it; one that asks a person groups and orders requests by it."""


class ModelError(RuntimeError):
    """A request that failed for good (after the backend's own retries)."""


@runtime_checkable
class Model(Protocol):
    """What the engine needs from a backend."""

    name: str

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        """Complete the chat. `on_delta` receives text pieces as they are produced."""
        ...

    async def aclose(self) -> None: ...
