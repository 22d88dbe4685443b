"""Engine events. The live view, the run store's progress bar and tests subscribe to them.

Events are small frozen dataclasses; a subscriber is any callable taking one.
Subscribers must be quick: slow consumers should queue and render elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    unit: str


@dataclass(slots=True)
class UnitStarted(Event):
    protocol: str
    question: str
    answers: tuple[str, ...]
    roles: tuple[str, ...]
    total_rounds: int


@dataclass(slots=True)
class TurnStarted(Event):
    round: int
    role: str
    speaker: str
    kind: str


@dataclass(slots=True)
class TextDelta(Event):
    role: str
    text: str


@dataclass(slots=True)
class TurnFinished(Event):
    round: int
    role: str
    speaker: str
    kind: str
    text: str
    quotes: tuple[tuple[str, bool], ...] = ()
    completion_tokens: int = 0


@dataclass(slots=True)
class VerdictGiven(Event):
    round: int
    role: str
    probs: tuple[float, ...] | None
    valid: bool
    final: bool
    correct_index: int | None = None


@dataclass(slots=True)
class UnitFinished(Event):
    record: dict[str, Any] = field(repr=False)


@dataclass(slots=True)
class UnitFailed(Event):
    error: str


Subscriber = Callable[[Event], None]
