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
from types import TracebackType
from typing import Any, Protocol

from rich.console import Console, RenderableType
from rich.live import Live

from debate.core.context import LABELS
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
from debate.live.render import render_frame
from debate.live.state import LiveState


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
        cost: Callable[[], str] | None = None,
    ) -> None:
        self.console = console
        self.state = LiveState(total, linger=linger, mode=mode)
        self.state.cost = cost
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
