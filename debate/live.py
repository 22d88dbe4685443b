"""Watching debates as they happen: the event-driven state and the two views over it.

`make_view(console=, plain=, total=)` returns the view `debate run --live|--plain` and
`debate watch` subscribe to the engine's events with:

- `LiveView`: a rich `Live` display (header, one panel per speaker streaming its text,
  the judge's probability bars, a table of the units in flight). `handle(event)` only
  queues the event; a painter thread applies queued events to `LiveState` and draws
  at most `refresh_per_second` times a second, so neither state updates nor rendering
  run on the generation path.
  The last frame stays on screen when the view closes.
- `PlainView`: one line per event, no escape codes, flushed as written:
  `[unit 3] round 2 debater_a: <the whole turn on one line>` and
  `[unit 3] verdict: A 0.71 / B 0.29 (correct: B)`.

Unit numbers are a per-view index of unit ids in start order, from 1.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

from rich.console import Console, RenderableType
from rich.live import Live

from debate.events import (
    Event,
    TextDelta,
    TurnFinished,
    TurnStarted,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SILENT_KINDS = frozenset({"verdict", "choice"})
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
        self.tokens = 0
        self.done = 0
        self.failed = 0

    def apply(self, event: Event) -> UnitState | None:
        now = self.clock()
        if isinstance(event, UnitStarted):
            created = UnitState(
                index=len(self.units) + 1,
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
        elif isinstance(event, UnitFailed):
            state.status = "failed"
            state.error = event.error
            state.finished = now
            state.activity = "failed"
            self.failed += 1
        return state

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


class View(Protocol):
    shows_text: bool  # shows text as it is generated (needs `TextDelta` events)

    def handle(self, event: Event) -> None: ...

    def __enter__(self) -> View: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


# ----- plain lines ---------------------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


def format_probs(probs: tuple[float, ...] | None, valid: bool = True) -> str:
    if not valid or not probs:
        return "invalid"
    return " / ".join(f"{LABELS[i]} {p:.2f}" for i, p in enumerate(probs))


def plain_line(event: Event, index: int) -> str | None:
    """The plain-text line for one event, or None for events plain output skips."""
    prefix = f"[unit {index}]"
    if isinstance(event, UnitStarted):
        answers = " | ".join(f"{LABELS[i]}: {one_line(a)}" for i, a in enumerate(event.answers))
        return f"{prefix} start {event.unit}: {one_line(event.question)} {answers}".rstrip()
    if isinstance(event, TurnFinished):
        kind = "" if event.kind == "speech" else f" ({event.kind})"
        line = f"{prefix} round {event.round} {event.role}{kind}: {one_line(event.text)}"
        if event.quotes:
            verified = sum(1 for _, ok in event.quotes if ok)
            line += f" [quotes: {verified} verified, {len(event.quotes) - verified} unverified]"
        return line
    if isinstance(event, VerdictGiven):
        probs = format_probs(event.probs, event.valid)
        if not event.final:
            return f"{prefix} round {event.round} feedback ({event.role}): {probs}"
        correct = (
            f" (correct: {LABELS[event.correct_index]})" if event.correct_index is not None else ""
        )
        return f"{prefix} verdict: {probs}{correct}"
    if isinstance(event, UnitFinished):
        outcome = {True: "correct", False: "wrong", None: "no answer key"}[
            event.record.get("correct")
        ]
        stop = event.record.get("stop_reason", "completed")
        return f"{prefix} done: {outcome} ({stop})"
    if isinstance(event, UnitFailed):
        return f"{prefix} failed: {one_line(event.error)}"
    return None


class PlainView:
    """Events as plain lines on the console's file (no markup, no escape codes).

    Only the events that print a line do any work: deltas and turn starts return at once.
    """

    shows_text = False

    def __init__(self, console: Console, total: int | None = None) -> None:
        self.console = console
        self.total = total
        self.indices: dict[str, int] = {}

    def handle(self, event: Event) -> None:
        if isinstance(event, (TextDelta, TurnStarted)):
            return
        if isinstance(event, UnitStarted):
            self.indices.setdefault(event.unit, len(self.indices) + 1)
        index = self.indices.get(event.unit)
        if index is None:
            return
        line = plain_line(event, index)
        if line is not None:
            stream = self.console.file
            stream.write(line + "\n")
            stream.flush()

    def __enter__(self) -> PlainView:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


# ----- the live display ----------------------------------------------------------------


class LiveView:
    """A rich `Live` display of a `LiveState`.

    `handle` only appends the event to a queue (no lock, no work on the engine's
    thread). A painter thread, at most `refresh_per_second` times a second and only
    when events arrived (or once a second, for the clock), applies the queued events to
    the state and redraws.
    """

    shows_text = True

    def __init__(
        self,
        console: Console,
        total: int | None = None,
        *,
        refresh_per_second: float = 8.0,
        linger: float = 1.0,
        mode: str = "live",
    ) -> None:
        self.console = console
        self.state = LiveState(total, linger=linger, mode=mode)
        self.interval = 1.0 / refresh_per_second
        self.frames = 0
        self._pending: deque[Event] = deque()
        self._stop = threading.Event()
        self._painter: threading.Thread | None = None
        self._live = Live(
            console=console, auto_refresh=False, transient=False, get_renderable=self._frame
        )

    def handle(self, event: Event) -> None:
        self._pending.append(event)

    def drain(self) -> None:
        """Apply the queued events (the painter's thread, or after it stopped)."""
        pending, apply = self._pending, self.state.apply
        while pending:
            apply(pending.popleft())

    def _frame(self) -> RenderableType:
        from debate.live_render import render_frame

        self.drain()
        self.frames += 1
        return render_frame(self.state, self.console)

    def _paint(self) -> None:
        painted_at = 0.0
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            if self._pending or now - painted_at >= 1.0:
                painted_at = now
                self._live.refresh()

    def __enter__(self) -> LiveView:
        self._live.start(refresh=True)
        self._stop.clear()
        self._painter = threading.Thread(target=self._paint, name="debate-live", daemon=True)
        self._painter.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._painter is not None:
            self._painter.join()
        self._live.stop()


def make_view(
    *, console: Console, plain: bool, total: int | None = None, **options: Any
) -> PlainView | LiveView:
    """The view `debate run --live/--plain` and `debate watch` use."""
    if plain:
        return PlainView(console, total)
    return LiveView(console, total, **options)
