"""What the live view knows: per-unit, per-speaker state built from the engine's events.

`LiveState.apply(event)` updates it; `debate.live.render` draws it; `debate.live.view`
feeds it. Nothing here prints.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from debate.core.events import (
    Event,
    TextDelta,
    TurnFinished,
    TurnStarted,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)

SILENT_KINDS = frozenset({"verdict", "choice"})
KEEP_FINISHED = 200
"""Finished units a live view holds (the latest); older ones are forgotten."""
"""Turn kinds that are not shown as text in a speaker panel (the judge panel shows verdicts)."""


@dataclass
class Turn:
    round: int
    kind: str
    pieces: list[str] = field(default_factory=list)
    quotes: tuple[tuple[str, bool], ...] = ()
    done: bool = False
    drawn: dict[tuple[int, bool], Any] = field(default_factory=dict, repr=False, compare=False)
    """Wrapped lines of a finished turn by (width, latest), kept by the renderer."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass
class SpeakerState:
    role: str
    speaker: str
    turns: list[Turn] = field(default_factory=list)

    @property
    def streaming(self) -> bool:
        return bool(self.turns) and not self.turns[-1].done


@dataclass(frozen=True)
class VerdictState:
    round: int
    role: str
    probs: tuple[float, ...] | None
    valid: bool
    final: bool


@dataclass
class UnitState:
    """What the view knows of one unit, built from its events."""

    index: int
    unit: str
    protocol: str
    question: str
    answers: tuple[str, ...]
    roles: tuple[str, ...]
    total_rounds: int
    started: float
    round: int = 0
    speakers: dict[str, SpeakerState] = field(default_factory=dict)
    verdicts: list[VerdictState] = field(default_factory=list)
    activity: str = "starting"
    status: Literal["running", "done", "failed"] = "running"
    correct_index: int | None = None
    correct: bool | None = None
    defends: dict[str, int | None] = field(default_factory=dict)
    error: str | None = None
    finished: float | None = None
    tokens: int = 0

    @property
    def live(self) -> bool:
        return self.status == "running"

    @property
    def lean(self) -> tuple[int, float] | None:
        """(answer index, probability) of the latest valid verdict's favourite."""
        for verdict in reversed(self.verdicts):
            if verdict.valid and verdict.probs:
                best = max(range(len(verdict.probs)), key=lambda i: verdict.probs[i])  # type: ignore[index]
                return best, verdict.probs[best]
        return None

    def speaker_order(self) -> list[SpeakerState]:
        order = {role: position for position, role in enumerate(self.roles)}
        return sorted(self.speakers.values(), key=lambda s: order.get(s.role, len(order)))


class LiveState:
    """Every unit seen so far and which one is in focus. Updated only through `apply`."""

    def __init__(
        self,
        total: int | None = None,
        *,
        linger: float = 1.0,
        mode: str = "live",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.linger = linger
        self.mode = mode
        self.clock = clock
        self.started = clock()
        self.units: dict[str, UnitState] = {}
        self.focus: str | None = None
        self.started_units = 0
        self._finished: deque[str] = deque()  # finished units still held, oldest first
        self.tokens = 0
        self.done = 0
        self.failed = 0
        self.cost: Callable[[], str] | None = None  # the run's tokens and estimated cost

    def apply(self, event: Event) -> UnitState | None:
        now = self.clock()
        if isinstance(event, UnitStarted):
            self.started_units += 1
            created = UnitState(
                index=self.started_units,
                unit=event.unit,
                protocol=event.protocol,
                question=event.question,
                answers=event.answers,
                roles=event.roles,
                total_rounds=event.total_rounds,
                started=now,
            )
            self.units[event.unit] = created
            focused = self.units.get(self.focus) if self.focus else None
            if focused is None or not focused.live:
                self.focus = event.unit
            return created
        state = self.units.get(event.unit)
        if state is None:
            return None
        if isinstance(event, TurnStarted):
            state.round = max(state.round, event.round)
            state.activity = (
                f"{'judging' if event.kind == 'verdict' else event.kind}: {event.speaker}"
            )
            if event.kind not in SILENT_KINDS:
                speaker = state.speakers.setdefault(
                    event.role, SpeakerState(event.role, event.speaker)
                )
                speaker.turns.append(Turn(event.round, event.kind))
        elif isinstance(event, TextDelta):
            streaming = state.speakers.get(event.role)
            if streaming is not None and streaming.streaming:
                streaming.turns[-1].pieces.append(event.text)
        elif isinstance(event, TurnFinished):
            speaker = state.speakers.setdefault(event.role, SpeakerState(event.role, event.speaker))
            if not speaker.streaming:
                speaker.turns.append(Turn(event.round, event.kind))
            turn = speaker.turns[-1]
            turn.pieces = [event.text]
            turn.quotes = event.quotes
            turn.done = True
            state.tokens += event.completion_tokens
            self.tokens += event.completion_tokens
            state.activity = f"{event.speaker} done"
        elif isinstance(event, VerdictGiven):
            state.verdicts.append(
                VerdictState(event.round, event.role, event.probs, event.valid, event.final)
            )
            if event.final and event.correct_index is not None:
                state.correct_index = event.correct_index
            state.activity = "verdict" if event.final else "feedback"
        elif isinstance(event, UnitFinished):
            record = event.record
            state.status = "done"
            state.correct = record.get("correct")
            state.correct_index = record.get("correct_index", state.correct_index)
            state.defends = dict(record.get("defends") or {})
            state.finished = now
            state.activity = "done"
            self.done += 1
            self._forget_old(event.unit)
        elif isinstance(event, UnitFailed):
            state.status = "failed"
            state.error = event.error
            state.finished = now
            state.activity = "failed"
            self.failed += 1
            self._forget_old(event.unit)
        return state

    def _forget_old(self, finished: str) -> None:
        """Hold only the latest finished units (the view shows a few of them), so a view
        of a long run does not grow with it."""
        self._finished.append(finished)
        while len(self._finished) > KEEP_FINISHED:
            oldest = self._finished.popleft()
            if oldest == self.focus:
                self._finished.append(oldest)  # stays while in focus
                continue
            self.units.pop(oldest, None)

    def in_flight(self) -> list[UnitState]:
        return [unit for unit in self.units.values() if unit.live]

    def focused(self) -> UnitState | None:
        """The unit shown in detail; moves on from a finished one after `linger` seconds."""
        current = self.units.get(self.focus) if self.focus else None
        if current is not None and not current.live:
            waited = self.clock() - (current.finished or 0.0)
            live = self.in_flight()
            if live and waited >= self.linger:
                later = [unit for unit in live if unit.index > current.index]
                current = (later or live)[0]
                self.focus = current.unit
        return current

    def elapsed(self) -> float:
        return self.clock() - self.started
