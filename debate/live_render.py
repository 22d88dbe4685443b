"""Drawing one frame of the live view from a `LiveState` (called by rich's refresh thread).

The frame, top to bottom: a header (protocol, unit, round k/N, elapsed, tokens/s, the
question and its answers), the speaker panels side by side (each shows the tail of what
that speaker said, the turn being generated at the bottom; quotes the story supports read
`“…”✓`, others `“…”✗`), the judge panel (a bar per answer for the latest verdict, the
verdict history, the correct answer once the unit ends) and, when there is more than one
unit, a table of units in flight. Heights are budgeted so the frame fits the terminal.
"""

from __future__ import annotations

import re

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from debate.live import LABELS, LiveState, SpeakerState, Turn, UnitState

QUOTE = re.compile(r"<\s*quote\s*>(.*?)<\s*/\s*quote\s*>", re.IGNORECASE | re.DOTALL)
VERIFIED_STYLE = "bold green"
UNVERIFIED_STYLE = "bold red underline"
PENDING_STYLE = "italic yellow"
SPEAKER_COLOURS = ("cyan", "magenta", "blue", "yellow", "green", "red")
BAR_WIDTH = 30


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def turn_text(turn: Turn, latest: bool) -> Text:
    """A turn with quote tags replaced by marks styled by their check."""
    text = Text(style="" if latest else "dim")
    raw = turn.text
    checks = list(turn.quotes)
    position = 0
    for found in QUOTE.finditer(raw):
        text.append(raw[position : found.start()])
        inner = found.group(1).strip()
        verified: bool | None = None
        if turn.done:
            match = next((i for i, (quoted, _) in enumerate(checks) if quoted == inner), None)
            if match is None and checks:
                match = 0
            if match is not None:
                verified = checks.pop(match)[1]
        if verified is None:
            text.append(f"“{inner}”?", style=PENDING_STYLE)
        elif verified:
            text.append(f"“{inner}”✓", style=VERIFIED_STYLE)
        else:
            text.append(f"“{inner}”✗", style=UNVERIFIED_STYLE)
        position = found.end()
    text.append(raw[position:])
    return text


def speaker_body(speaker: SpeakerState, console: Console, width: int, height: int) -> Text:
    """The last `height` wrapped lines of a speaker's turns, the newest turn in full style."""
    body = Text()
    for number, turn in enumerate(speaker.turns):
        latest = number == len(speaker.turns) - 1
        if number:
            body.append("\n")
        kind = "" if turn.kind == "speech" else f" {turn.kind}"
        body.append(f"R{turn.round}{kind} ", style="bold dim" if not latest else "bold")
        body.append_text(turn_text(turn, latest))
        if latest and not turn.done:
            body.append("▌", style="blink")
    lines = list(body.wrap(console, max(10, width)))
    return Text("\n").join(lines[-height:])


def header(state: LiveState, unit: UnitState) -> Panel:
    elapsed = state.elapsed()
    rate = state.tokens / elapsed if elapsed > 0 else 0.0
    progress = f"{state.done}/{state.total}" if state.total else f"{state.done}"
    line = Text()
    line.append(unit.protocol, style="bold")
    line.append(f" · unit {unit.index} ", style="")
    line.append(unit.unit, style="dim")
    line.append(" · ")
    line.append(f"round {unit.round}/{unit.total_rounds}", style="bold yellow")
    line.append(f" · {_clock(elapsed)} elapsed · {rate:.0f} tok/s · done {progress}")
    if state.failed:
        line.append(f" · {state.failed} failed", style="red")
    rows: list[RenderableType] = [line, Text(_short(unit.question, 400), style="bold")]
    for index, answer in enumerate(unit.answers):
        answer_line = Text(f"  {LABELS[index]}: {_short(answer, 200)}")
        defenders = [role for role, side in unit.defends.items() if side == index]
        if defenders:
            answer_line.append(f"  ({', '.join(defenders)})", style="dim")
        if unit.correct_index == index and not unit.live:
            answer_line.append("  ✓ correct", style="bold green")
        rows.append(answer_line)
    return Panel(
        Group(*rows),
        title=f"debate-lab · {state.mode}",
        title_align="left",
        box=box.ROUNDED,
    )


def bar(probability: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, probability)) * width)
    return "█" * filled + "░" * (width - filled)


def judge_panel(unit: UnitState, width: int) -> Panel:
    latest = unit.verdicts[-1] if unit.verdicts else None
    lines: list[RenderableType] = []
    answer_room = max(10, width - BAR_WIDTH - 22)
    for index, answer in enumerate(unit.answers):
        probability = latest.probs[index] if latest and latest.valid and latest.probs else None
        row = Text(f"{LABELS[index]} ", style="bold")
        if probability is None:
            row.append(bar(0.0), style="dim")
            row.append("   –  ")
        else:
            leading = (
                latest is not None and latest.probs is not None and probability == max(latest.probs)
            )
            row.append(bar(probability), style="green" if leading else "blue")
            row.append(f" {probability:.2f} ")
        row.append(_short(answer, answer_room), style="dim")
        if unit.correct_index == index and not unit.live:
            row.append(" ✓ correct", style="bold green")
        lines.append(row)
    if latest is None:
        lines.append(Text("waiting for a verdict…", style="dim"))
    else:
        trail = Text("verdicts: ", style="dim")
        for number, verdict in enumerate(unit.verdicts):
            if number:
                trail.append(" → ", style="dim")
            if verdict.valid and verdict.probs:
                best = max(range(len(verdict.probs)), key=lambda i: verdict.probs[i])  # type: ignore[index]
                trail.append(f"R{verdict.round} {LABELS[best]} {verdict.probs[best]:.2f}")
            else:
                trail.append(f"R{verdict.round} invalid", style="red")
            if verdict.final:
                trail.append(" (final)", style="bold")
        if unit.correct is not None and not unit.live:
            trail.append(
                "  judge right" if unit.correct else "  judge wrong",
                style="bold green" if unit.correct else "bold red",
            )
        lines.append(trail)
    role = latest.role if latest else "judge"
    return Panel(Group(*lines), title=f"{role} · probability per answer", title_align="left")


def status_text(unit: UnitState) -> Text:
    if unit.status == "failed":
        return Text("failed", style="red")
    if unit.status == "done":
        if unit.correct is None:
            return Text("done")
        return Text(
            "done ✓" if unit.correct else "done ✗", style="green" if unit.correct else "red"
        )
    return Text(unit.activity)


def units_table(state: LiveState, focused: UnitState, rows: int, width: int) -> Table:
    live = state.in_flight()
    finished = [unit for unit in state.units.values() if not unit.live]
    finished.sort(key=lambda unit: unit.finished or 0.0, reverse=True)
    shown = (live + finished)[: max(1, rows)]
    table = Table(box=box.SIMPLE_HEAD, expand=True, padding=(0, 1), show_edge=False)
    table.add_column("#", justify="right", width=4)
    table.add_column("unit", no_wrap=True, max_width=40)
    table.add_column("question", no_wrap=True, ratio=1)
    table.add_column("round", justify="center", width=7)
    table.add_column("status", no_wrap=True, width=26)
    table.add_column("lean", no_wrap=True, width=8)
    for unit in shown:
        lean = unit.lean
        marker = "▶" if unit is focused else ""
        table.add_row(
            f"{marker}{unit.index}",
            unit.unit,
            _short(unit.question, max(20, width // 3)),
            f"{unit.round}/{unit.total_rounds}",
            status_text(unit),
            f"{LABELS[lean[0]]} {lean[1]:.2f}" if lean else "–",
            style="bold" if unit is focused else ("dim" if not unit.live else ""),
        )
    hidden = len(live) + len(finished) - len(shown)
    caption = f"in flight {len(live)} · done {state.done}"
    if state.total:
        caption += f"/{state.total}"
    if state.failed:
        caption += f" · failed {state.failed}"
    if hidden > 0:
        caption += f" · {hidden} more not shown"
    table.caption = caption
    return table


def render_frame(state: LiveState, console: Console) -> RenderableType:
    """One frame for the terminal's current size."""
    unit = state.focused()
    if unit is None:
        return Text(f"debate-lab · {state.mode}: waiting for the first unit…", style="dim")
    width, height = console.size.width, console.size.height
    parts: list[RenderableType] = [header(state, unit)]
    used = 4 + len(unit.answers)
    judge = judge_panel(unit, width)
    used += 3 + len(unit.answers)
    table = None
    if len(state.units) > 1 or (state.total or 0) > 1:
        rows = max(2, min(len(state.units), (height - used) // 3))
        table = units_table(state, unit, rows, width)
        used += rows + 3
    speakers = unit.speaker_order()
    if speakers:
        room = max(3, height - used - 3)
        column = max(20, width // len(speakers))
        grid = Table.grid(expand=True, padding=(0, 0))
        for _ in speakers:
            grid.add_column(ratio=1)
        bodies = [speaker_body(s, console, column - 4, room) for s in speakers]
        tallest = max(body.plain.count("\n") + 1 for body in bodies)
        panels = []
        for position, (speaker, body) in enumerate(zip(speakers, bodies, strict=True)):
            colour = SPEAKER_COLOURS[position % len(SPEAKER_COLOURS)]
            side = unit.defends.get(speaker.role)
            title = speaker.speaker + (f" · defends {LABELS[side]}" if side is not None else "")
            turn = speaker.turns[-1] if speaker.turns else None
            subtitle = "speaking…" if speaker.streaming else (f"R{turn.round}" if turn else "")
            panels.append(
                Panel(
                    body,
                    title=Text(title, style=f"bold {colour}"),
                    title_align="left",
                    subtitle=subtitle,
                    subtitle_align="right",
                    border_style=colour,
                    height=min(room, tallest) + 2,
                )
            )
        grid.add_row(*panels)
        parts.append(grid)
    else:
        parts.append(Text(f"{unit.activity}…", style="dim"))
    parts.append(judge)
    if table is not None:
        parts.append(table)
    return Group(*parts)
