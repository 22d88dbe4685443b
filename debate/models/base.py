"""The model interface every backend implements, and the data it exchanges.

A backend knows nothing about debates: it turns chat messages and a sampling
configuration into a `Completion` (text, optional choice logprobs, usage).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message. A plain dataclass: views build many of these per turn."""

    role: Literal["system", "user", "assistant"]
    content: str


class GenerateConfig(BaseModel):
    """Sampling settings for one request.

    `choices`, when set, asks the backend for next-token log-probabilities of each
    choice label (e.g. ("A", "B")) at the start of the reply. Backends that cannot
    provide them return `choice_logprobs=None` and callers fall back to parsing.
    """

    model_config = ConfigDict(frozen=True)

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None
    epoch: int = 0  # repeat index; backends ignore it, the cache keys on it


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Completion(BaseModel):
    text: str
    model: str
    choice_logprobs: dict[str, float] | None = None
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False


DeltaCallback = Callable[[str], None]


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
