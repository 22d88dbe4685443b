"""`human`: a person answers model requests through a page served on 127.0.0.1.

`HumanModel` is a backend like any other: the engine sends it chat messages and a
`GenerateConfig`, and it replies with a `Completion`. Requests wait in a queue until a
person answers them in the browser (`human_server.py` serves the page):

- a request with choice labels (a verdict) is answered with a probability per label,
  returned as `choice_probs`, with the person's reason as the text (the verdict's
  `raw`) and the annotator and the seconds from first display to submission in `meta`;
- any other request (an interactive judge's question, a speech) is answered with text.

The page shows exactly the chat the model would have been sent: for a judge this is the
judge's view, with quotes marked as the judge's prompt marks them and nothing the
protocol hides from the judge.

Each answer is appended to a journal (`human-<annotator>.jsonl` in the run directory)
and fsynced before the page is told it was saved, so closing the browser or killing the
process loses no submitted answer. A resumed run replays journaled answers to the same
requests (same unit, same chat, same labels) without asking again.

Requests are grouped by the caller's `request_tag` (the unit id): the page finishes the
unit it is on before it moves on, and otherwise shows units in a seeded random order
(`unit_order`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debate.errors import DebateInputError
from debate.models.base import (
    ChatMessage,
    Completion,
    DeltaCallback,
    GenerateConfig,
    Usage,
    request_tag,
)

DEFAULT_PORT = 8321
ANNOTATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TEXT = 20_000
RETURN_WAIT_S = 180.0
"""How long the page waits for the open unit to come back after a text answer."""


def check_annotator(name: str) -> str:
    """The annotator name, or a one-line error (it names a file in the run directory)."""
    if not ANNOTATOR.fullmatch(name):
        raise DebateInputError(
            f"--annotator: '{name}': use 1-64 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def journal_name(annotator: str) -> str:
    return f"human-{annotator}.jsonl"


def unit_order(seed: int, tag: str) -> str:
    """The sort key that puts units in a seeded random order (same seed, same order)."""
    return hashlib.sha256(f"{seed}:{tag}".encode()).hexdigest()


def request_key(tag: str, messages: Sequence[ChatMessage], choices: Sequence[str] | None) -> str:
    """Identifies a request across runs: its unit, its chat and its labels."""
    payload = json.dumps(
        [tag, [[m.role, m.content] for m in messages], list(choices) if choices else None],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Request:
    """One request waiting for a person."""

    number: int
    key: str
    tag: str
    order: str
    messages: list[ChatMessage]
    choices: list[str] | None
    future: asyncio.Future[dict[str, Any]]
    shown_at: float | None = None

    def to_page(self) -> dict[str, Any]:
        return {
            "id": self.number,
            "kind": "verdict" if self.choices else "text",
            "choices": self.choices,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
        }


@dataclass
class Journal:
    """Append-only file of submitted answers; each line is on disk before it counts."""

    path: Path | None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path | None, *, resume: bool) -> Journal:
        journal = cls(path)
        if path is None or not path.exists():
            return journal
        if path.stat().st_size and not resume:
            raise DebateInputError(
                f"{path}: already holds answers of this annotator; pass --resume to "
                "continue, or choose another --out"
            )
        with path.open("rb+") as handle:  # cut a line a kill left half written
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            try:
                entry = json.loads(line)
                journal.answers[str(entry["key"])] = entry
            except (ValueError, KeyError, TypeError):
                raise DebateInputError(f"{path}: line {number}: not a journal entry") from None
        return journal

    def append(self, entry: dict[str, Any]) -> None:
        self.answers[entry["key"]] = entry
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def read_probabilities(values: Any, choices: list[str]) -> list[float]:
    """Probabilities from the page: one non-negative number per label, normalised."""
    if not isinstance(values, list) or len(values) != len(choices):
        raise ValueError(f"expected {len(choices)} probabilities")
    numbers: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("probabilities must be numbers")
        if not math.isfinite(value) or value < 0:
            raise ValueError("probabilities must be finite and not negative")
        numbers.append(float(value))
    total = sum(numbers)
    if total <= 0:
        raise ValueError("give at least one answer a probability above 0")
    return [value / total for value in numbers]


class HumanModel:
    """Answers requests with what a person enters in a local web page."""

    answers_choices = True  # verdict requests always carry the labels (see core.judges)

    def __init__(
        self,
        annotator: str = "annotator",
        *,
        port: int = DEFAULT_PORT,
        journal: Path | None = None,
        resume: bool = False,
        seed: int = 0,
        announce: bool = True,
    ) -> None:
        self.annotator = check_annotator(annotator)
        self.name = f"human/{self.annotator}"
        self.port = port
        self.seed = seed
        self.announce = announce
        self.journal = Journal.open(journal, resume=resume)
        self.pending: dict[int, Request] = {}
        self.answered = 0
        self.replayed = 0
        self.url: str | None = None
        self._numbers = 0
        self._current_tag: str | None = None
        self._returning_until = 0.0
        self._changed: asyncio.Event | None = None
        self._server: Any = None
        self._starting: asyncio.Task[None] | None = None
        self._closed = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # started on the first request instead
        self._starting = loop.create_task(self._serve())

    # ----- the page's side ----------------------------------------------------------------

    @property
    def changed(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        self.changed.set()
        self._changed = asyncio.Event()

    def current(self) -> Request | None:
        """What the page shows: the open unit's next request, else the first unit in order.

        After a text answer (a question, a speech) the unit goes on, so its next request
        is awaited for up to `RETURN_WAIT_S` before another unit is opened."""
        same = [r for r in self.pending.values() if r.tag == self._current_tag]
        if not same and self._returning_until > time.monotonic():
            return None
        if not self.pending:
            return None
        chosen = min(same or self.pending.values(), key=lambda r: (r.order, r.number))
        if chosen.shown_at is None:
            chosen.shown_at = time.monotonic()
        return chosen

    def status(self) -> dict[str, Any]:
        return {
            "annotator": self.annotator,
            "answered": self.answered,
            "waiting": len(self.pending),
            "closed": self._closed,
            "continuing": self._returning_until > time.monotonic(),
        }

    def submit(self, number: int, answer: dict[str, Any]) -> dict[str, Any]:
        """Save a person's answer (journal first), then release the waiting request."""
        request = self.pending.get(number)
        if request is None:
            raise LookupError("this request was already answered or is gone")
        reason = answer.get("reason") or ""
        if not isinstance(reason, str) or len(reason) > MAX_TEXT:
            raise ValueError(f"the reason must be text of at most {MAX_TEXT} characters")
        entry: dict[str, Any] = {
            "key": request.key,
            "unit": request.tag,
            "annotator": self.annotator,
            "seconds": round(time.monotonic() - (request.shown_at or time.monotonic()), 3),
            "time": time.time(),
        }
        if request.choices:
            entry["choices"] = request.choices
            entry["probs"] = read_probabilities(answer.get("probs"), request.choices)
            entry["reason"] = reason.strip()
        else:
            text = answer.get("text")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                raise ValueError(f"write an answer of 1 to {MAX_TEXT} characters")
            entry["text"] = text.strip()
        self.journal.append(entry)
        del self.pending[number]
        self.answered += 1
        self._current_tag = request.tag
        self._returning_until = 0.0 if request.choices else time.monotonic() + RETURN_WAIT_S
        if not request.future.done():
            request.future.set_result(entry)
        self._notify()
        return {"saved": True, "seconds": entry["seconds"]}

    # ----- the engine's side --------------------------------------------------------------

    async def start(self) -> None:
        """Serve the page (once; every caller waits for the same start)."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._serve())
        await self._starting

    async def _serve(self) -> None:
        from debate.models.human_server import serve

        self._server, self.url = await serve(self, self.port)
        if self.announce:
            print(
                f"human judge page: {self.url} (annotator {self.annotator})",
                file=sys.stderr,
                flush=True,
            )

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        config: GenerateConfig,
        on_delta: DeltaCallback | None = None,
    ) -> Completion:
        tag = request_tag.get() or ""
        choices = list(config.choices) if config.choices else None
        key = request_key(tag, messages, choices)
        entry = self.journal.answers.get(key)
        if entry is not None:
            self.replayed += 1
        else:
            await self.start()
            self._numbers += 1
            request = Request(
                number=self._numbers,
                key=key,
                tag=tag,
                order=unit_order(self.seed, tag),
                messages=list(messages),
                choices=choices,
                future=asyncio.get_running_loop().create_future(),
            )
            self.pending[request.number] = request
            self._notify()
            try:
                entry = await request.future
            finally:
                self.pending.pop(request.number, None)
        return self._completion(entry)

    def _completion(self, entry: dict[str, Any]) -> Completion:
        if "probs" in entry:
            probs = dict(zip(entry["choices"], entry["probs"], strict=True))
            meta = {"annotator": entry["annotator"], "seconds": entry["seconds"]}
            return Completion(
                text=entry.get("reason", ""),
                model=self.name,
                choice_probs=probs,
                meta=meta,
                usage=Usage(),
            )
        return Completion(
            text=entry["text"],
            model=self.name,
            meta={"annotator": entry["annotator"], "seconds": entry["seconds"]},
        )

    async def aclose(self) -> None:
        self._closed = True
        self._notify()
        if self._server is not None:
            server, self._server = self._server, None
            await server.cleanup()


def create(rest: str, **options: Any) -> HumanModel:
    """`human` (annotator from the `annotator` option) or `human/<annotator>`.

    Options: `annotator`, `port` (default 8321; 0 picks a free one), `journal_dir` (the
    run directory the answers file goes in), `resume`, `seed` (the order units are shown
    in). Options meant for other backends are ignored."""
    annotator = rest or str(options.get("annotator") or "annotator")
    journal_dir = options.get("journal_dir")
    return HumanModel(
        annotator,
        port=int(options.get("port", DEFAULT_PORT)),
        journal=Path(journal_dir) / journal_name(annotator) if journal_dir else None,
        resume=bool(options.get("resume", False)),
        seed=int(options.get("seed", 0)),
    )
