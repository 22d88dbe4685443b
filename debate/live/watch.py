"""Replaying and following a run directory through the live view (`debate watch`).

A finished unit's record holds everything the view needs, so `record_events` turns a
record back into the engine's events: `UnitStarted`, then for each message
`TurnStarted`, its words as `TextDelta`s and `TurnFinished` (with the recorded quote
checks), each intermediate verdict after the last message of its round, the final
verdict, and `UnitFinished`. Each event comes with the pause that precedes it at speed 1
(`WORDS_PER_SECOND`); `play` sleeps that pause divided by the speed (speed 0: no pauses).

Records carry token usage per role, not per message: a replayed turn's tokens are the
role's completion tokens shared out by word count, so tokens/s in a replay is the
playback rate, not the original one.

`watch_records` yields the records of `transcripts.jsonl` (and failures) in file order;
on a run still being written it keeps tailing the files until the run has written its
`summary.json` (newer than its `spec.yaml`) or nothing new arrived for `idle_timeout`
seconds. `live_events` follows a running `debate run` turn by turn instead, from the
event log it writes (`live.jsonl`, see `debate.core.event_log`), so units in flight show
as they go; when the run ends it removes the log, and units the follower had not yet
seen finish are replayed from the records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from debate.core.event_log import LIVE, event_from_json
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
from debate.core.store import FAILURES, TRANSCRIPTS
from debate.errors import DebateInputError

WORDS_PER_SECOND = 12.0
HEAD_BYTES = 256
TURN_PAUSE = 0.4
UNIT_PAUSE = 1.5


def _turn_tokens(record: dict[str, Any]) -> dict[int, int]:
    """Each message's share of its role's completion tokens, by word count."""
    usage = record.get("usage") or {}
    words: dict[str, int] = {}
    for message in record.get("messages", []):
        words[message["role"]] = words.get(message["role"], 0) + len(message["text"].split())
    shares: dict[int, int] = {}
    for message in record.get("messages", []):
        role = message["role"]
        tokens = int((usage.get(role) or {}).get("completion_tokens", 0))
        total = words.get(role, 0)
        shares[message["index"]] = (
            round(tokens * len(message["text"].split()) / total) if total else 0
        )
    return shares


def _verdict_event(unit: str, verdict: dict[str, Any], correct: int | None) -> VerdictGiven:
    probs = verdict.get("probs")
    final = bool(verdict.get("final", True))
    return VerdictGiven(
        unit,
        int(verdict.get("round", 0)),
        verdict.get("role", "judge"),
        tuple(probs) if probs else None,
        bool(verdict.get("valid", False)),
        final,
        correct if final else None,
    )


def record_events(record: dict[str, Any]) -> Iterator[tuple[float, Event]]:
    """(pause before it at speed 1, event) for every event of one recorded unit."""
    unit = record["id"]
    messages = sorted(record.get("messages", []), key=lambda m: m["index"])
    roles = tuple(record.get("models") or record.get("defends") or {})
    if not roles:
        roles = tuple(dict.fromkeys(m["role"] for m in messages))
    last_round = max([m["round"] for m in messages] + [int(record.get("rounds") or 0)])
    yield (
        0.0,
        UnitStarted(
            unit,
            record.get("protocol", ""),
            record.get("question", ""),
            tuple(record.get("answers") or ()),
            roles,
            last_round,
        ),
    )
    correct = record.get("correct_index")
    pending = [v for v in record.get("verdicts", []) if not v.get("final", True)]
    tokens = _turn_tokens(record)
    for position, message in enumerate(messages):
        round_, role, speaker = message["round"], message["role"], message["speaker"]
        kind = message.get("kind", "speech")
        yield TURN_PAUSE, TurnStarted(unit, round_, role, speaker, kind)
        words = message["text"].split(" ")
        for number, word in enumerate(words):
            piece = word if number == 0 else " " + word
            yield 1.0 / WORDS_PER_SECOND, TextDelta(unit, role, piece)
        quotes = tuple((q["text"], bool(q["verified"])) for q in message.get("quotes") or ())
        yield (
            0.0,
            TurnFinished(
                unit, round_, role, speaker, kind, message["text"], quotes, tokens[message["index"]]
            ),
        )
        next_round = messages[position + 1]["round"] if position + 1 < len(messages) else None
        while pending and (next_round is None or pending[0].get("round", 0) < next_round):
            yield TURN_PAUSE, _verdict_event(unit, pending.pop(0), correct)
    for verdict in pending:
        yield TURN_PAUSE, _verdict_event(unit, verdict, correct)
    final = record.get("final_verdict")
    if final is not None:
        yield TURN_PAUSE, _verdict_event(unit, {**final, "final": True}, correct)
    yield 0.0, UnitFinished(unit, record)


def failure_events(failure: dict[str, Any]) -> Iterator[tuple[float, Event]]:
    unit = failure["id"]
    yield 0.0, UnitStarted(unit, "", failure.get("scenario_id", ""), (), (), 0)
    yield 0.0, UnitFailed(unit, str(failure.get("error", "failed")))


def paced(
    steps: Iterator[tuple[float, Event]],
    speed: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Each event after its pause scaled by 1/speed (speed 0: at once)."""
    for pause, event in steps:
        if speed > 0 and pause > 0:
            sleep(pause / speed)
        yield event


def play(
    steps: Iterator[tuple[float, Event]],
    handle: Callable[[Event], None],
    speed: float,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Hand each event to the view after its pause scaled by 1/speed (speed 0: at once)."""
    for event in paced(steps, speed, sleep):
        handle(event)


def replayed(
    items: Iterator[tuple[str, dict[str, Any]]], unit: str | None, speed: float
) -> Iterator[Event]:
    """The paced events of `watch_records`' items whose unit `--unit` selects, with a
    pause between units."""
    shown = False
    for kind, item in items:
        if not select_unit(unit, item.get("id", "")):
            continue
        if shown and speed > 0:
            time.sleep(UNIT_PAUSE / speed)
        shown = True
        yield from paced(record_events(item) if kind == "record" else failure_events(item), speed)


class _Tail:
    """Complete new lines of a growing JSONL file, from where the last read stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.head = b""  # the file's first bytes as last read: a new file has others

    def read(self) -> list[dict[str, Any]]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return []
        with handle:
            if self.head and handle.read(len(self.head)) != self.head:
                self.offset = 0  # replaced (a resumed run's new event log)
            handle.seek(self.offset)
            data = handle.read()
            if self.offset == 0:
                self.head = data[:HEAD_BYTES]
        end = data.rfind(b"\n") + 1
        self.offset += end
        items = []
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DebateInputError(f"{self.path}: not valid JSON ({exc.msg})") from exc
        return items


def run_finished(run_dir: Path) -> bool:
    """Whether the run that wrote `run_dir` has ended (its summary is newer than its spec)."""
    summary, spec = run_dir / "summary.json", run_dir / "spec.yaml"
    if not summary.exists():
        return False
    return not spec.exists() or summary.stat().st_mtime_ns >= spec.stat().st_mtime_ns


def check_run_dir(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise DebateInputError(f"{run_dir}: no such run directory")
    if not (run_dir / TRANSCRIPTS).exists() and not (run_dir / "spec.yaml").exists():
        raise DebateInputError(f"{run_dir}: no {TRANSCRIPTS} or spec.yaml (not a run directory?)")


def watch_records(
    run_dir: Path,
    *,
    follow: bool = True,
    idle_timeout: float = 300.0,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """("record" | "failure", item) in file order; tails the files while the run goes on."""
    check_run_dir(run_dir)
    records, failures = _Tail(run_dir / TRANSCRIPTS), _Tail(run_dir / FAILURES)
    last_news = clock()
    while True:
        finished = run_finished(run_dir)
        news = [("record", r) for r in records.read()] + [("failure", f) for f in failures.read()]
        yield from news
        if news:
            last_news = clock()
        if finished or not follow or clock() - last_news >= idle_timeout:
            return
        sleep(poll)


def is_live(run_dir: Path) -> bool:
    """Whether a `debate run` is writing `run_dir` now (or was killed while it did)."""
    return (run_dir / LIVE).exists() and not run_finished(run_dir)


def live_events(
    run_dir: Path,
    *,
    idle_timeout: float = 300.0,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Event]:
    """The events of a running `debate run`, as its event log receives them."""
    log, records, failures = (
        _Tail(run_dir / LIVE),
        _Tail(run_dir / TRANSCRIPTS),
        _Tail(run_dir / FAILURES),
    )
    known: dict[str, dict[str, Any]] = {}
    lost: dict[str, dict[str, Any]] = {}
    shown: set[str] = set()
    last_news = clock()
    while True:
        ended = run_finished(run_dir)
        lines = log.read()
        known.update((record["id"], record) for record in records.read())
        lost.update((failure["id"], failure) for failure in failures.read())
        for data in lines:
            if data.get("type") == "LogStarted":
                continue
            event = event_from_json(data, known.get(str(data.get("unit"))))
            if isinstance(event, UnitFinished | UnitFailed):
                shown.add(event.unit)
            yield event
        if lines:
            last_news = clock()
        if ended:  # the log goes when the run ends: replay what it no longer shows
            for unit, record in known.items():
                if unit not in shown:
                    yield from (event for _, event in record_events(record))
            for unit, failure in lost.items():
                if unit not in shown and unit not in known:
                    yield from (event for _, event in failure_events(failure))
            return
        if clock() - last_news >= idle_timeout:
            return
        sleep(poll)


def select_unit(unit: str | None, record_id: str) -> bool:
    """`--unit` matches a unit id exactly or as a substring (e.g. `truthfulqa-3/swap`)."""
    return unit is None or unit == record_id or unit in record_id
