"""The transcript `debate run --show` prints (and so `scripts/demo`): the question and
answers, each turn as a panel with its quotes marked as checked against the story, each
verdict's probabilities, and how the final verdict was read and whether it was right."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from debate.core.context import LABELS
from debate.core.events import (
    Event,
    TurnFinished,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)

_QUOTE = re.compile(r"<\s*quote\s*>(.*?)<\s*/\s*quote\s*>", re.S | re.I)


def marked_quotes(text: str, quotes: Sequence[tuple[str, bool]]) -> str:
    """Rich markup of a speech whose `<quote>` spans show the check: a green ✓ for a
    quote found in the story, a red ✗ for one that was not."""
    verified = dict(quotes)
    pieces: list[str] = []
    position = 0
    for found in _QUOTE.finditer(text):
        quoted = found.group(1)
        ok = verified.get(quoted, verified.get(quoted.strip(), False))
        style, mark = ("green", "✓") if ok else ("red", "✗")
        pieces += [escape(text[position : found.start()]), f"[{style}]{mark} “{escape(quoted)}”[/]"]
        position = found.end()
    pieces.append(escape(text[position:]))
    return "".join(pieces)


class TranscriptPrinter:
    """Prints each unit as it happens: its question, each turn as a panel (quotes marked
    as checked against the story), each verdict's probabilities, and at the end of the
    unit how the final verdict was read and whether the judge was right."""

    def __init__(self, console: Console, several: bool) -> None:
        self.console = console
        self.several = several

    def _prefix(self, unit: str) -> str:
        return f"{unit} · " if self.several else ""

    def __call__(self, event: Event) -> None:
        console = self.console
        if isinstance(event, UnitStarted):
            console.rule(event.unit)
            console.print(f"[bold]{escape(event.question)}[/bold]")
            for label, answer in zip(LABELS, event.answers, strict=False):
                console.print(f"  {label}: {escape(answer)}")
        elif isinstance(event, TurnFinished):
            title = f"{self._prefix(event.unit)}round {event.round} · {event.speaker}"
            if event.kind != "speech":
                title += f" · {event.kind}"
            body = marked_quotes(event.text, event.quotes) if event.quotes else escape(event.text)
            console.print(Panel(body or "(empty)", title=title, title_align="left"))
        elif isinstance(event, VerdictGiven):
            if event.probs is None:
                text = "verdict: invalid"
            else:
                text = "verdict: " + " / ".join(
                    f"{label} {p:.2f}" for label, p in zip(LABELS, event.probs, strict=False)
                )
            if event.final and event.correct_index is not None:
                text += f" (correct: {LABELS[event.correct_index]})"
            console.print(f"{self._prefix(event.unit)}{text}", highlight=False)
        elif isinstance(event, UnitFinished):
            line = verdict_line(event.record)
            if line:
                console.print(f"{self._prefix(event.unit)}{line}", highlight=False)
        elif isinstance(event, UnitFailed):
            console.print(f"[red]unit {event.unit} failed:[/red] {escape(event.error)}")


def verdict_line(record: dict[str, Any]) -> str:
    """How the final verdict was read (method, label mass when recorded) and its outcome."""
    final = record.get("final_verdict")
    if not final:
        return ""
    line = f"verdict read from {final.get('method')}"
    if final.get("label_mass") is not None:
        line += f" (label mass {float(final['label_mass']):.2f})"
    calibration = final.get("calibration") or {}
    if calibration.get("method") == "both-orders":
        line += ", averaged with the answers in reverse order"
    elif calibration.get("method") == "content-free":
        line += ", divided by the judge's content-free prior"
    chosen, correct = final.get("chosen"), record.get("correct_index")
    if not final.get("valid"):
        line += ": invalid, counted as wrong"
    elif chosen is not None and correct is not None:
        outcome = "right" if chosen == correct else "wrong"
        line += f": the judge chose {LABELS[chosen]} ({outcome})"
    return line
