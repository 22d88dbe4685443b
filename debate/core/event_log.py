"""A run's events as they happen, for `debate watch --follow` from another terminal.

`debate run` writes RUN_DIR/live.jsonl while it runs: one JSON line per unit start, turn
start, finished turn (with its text), verdict, finished or failed unit. Text deltas are
left out (a finished turn carries its whole text) and a finished unit's line names the
unit only (its record is in transcripts.jsonl, written before the line); the first line,
`LogStarted`, names the log with a random id. Lines reach
the file within `FLUSH_S` seconds. Each run or resume of the directory starts a new log
file, and the runner removes it when the run ends normally: the records then hold
everything.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

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

LIVE = "live.jsonl"
FLUSH_S = 0.25

_KINDS: dict[str, type[Event]] = {
    kind.__name__: kind
    for kind in (UnitStarted, TurnStarted, TurnFinished, VerdictGiven, UnitFinished, UnitFailed)
}
# field names per event type (`dataclasses.asdict` deep-copies, at several times the cost)
_FIELDS = {kind: tuple(f.name for f in fields(kind)) for kind in _KINDS.values()}


class EventLog:
    """An engine subscriber that appends events to RUN_DIR/live.jsonl."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LIVE
        self._handle = self.path.open("w", encoding="utf-8")
        # a first line of its own, so a follower of an earlier log sees the file was replaced
        self._handle.write(json.dumps({"type": "LogStarted", "log": uuid.uuid4().hex}) + "\n")
        self._flush_pending = False
        self._encode = json.JSONEncoder(ensure_ascii=False).encode

    def __call__(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            return
        kind = type(event)
        data: dict[str, Any] = {"type": kind.__name__}
        if kind is UnitFinished:
            data["unit"] = event.unit
        else:
            for name in _FIELDS[kind]:
                data[name] = getattr(event, name)
        self._handle.write(self._encode(data) + "\n")
        if not self._flush_pending:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Flush once per FLUSH_S at most: one write per turn would cost a fast run time."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # emitted outside an event loop (the ray executor's driver)
            self._handle.flush()
            return
        self._flush_pending = True
        loop.call_later(FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if not self._handle.closed:
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def event_from_json(data: dict[str, Any], record: dict[str, Any] | None = None) -> Event:
    """The event a live.jsonl line stands for (`record` fills in a finished unit's)."""
    kind = data.get("type")
    values = {key: value for key, value in data.items() if key != "type"}
    if kind == "UnitFinished":
        return UnitFinished(str(values["unit"]), record or {})
    if kind not in _KINDS:
        raise ValueError(f"unknown event type {kind!r}")
    for name in ("answers", "roles", "probs"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    if isinstance(values.get("quotes"), list):
        values["quotes"] = tuple((str(text), bool(ok)) for text, ok in values["quotes"])
    return _KINDS[kind](**values)
