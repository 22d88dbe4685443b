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

from debate.core.context import LABELS
from debate.live.state import LiveState, SpeakerState, Turn, UnitState

QUOTE = re.compile(r"<\s*quote\s*>(.*?)<\s*/\s*quote\s*>", re.IGNORECASE | re.DOTALL)
OTHER_TAG = re.compile(r"</?(?!quote\b)[A-Za-z_][\w-]*>", re.IGNORECASE)
"""Output-format tags such as `<argument>` that a streaming turn shows before extraction."""
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
    raw = OTHER_TAG.sub("", turn.text)
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


def turn_lines(turn: Turn, console: Console, width: int, latest: bool) -> list[Text]:
    """A turn wrapped to `width`; finished turns are wrapped once and kept."""
    key = (width, latest)
    if turn.done and key in turn.drawn:
        return turn.drawn[key]  # type: ignore[no-any-return]
    body = Text()
    kind = "" if turn.kind == "speech" else f" {turn.kind}"
    body.append(f"R{turn.round}{kind} ", style="bold" if latest else "bold dim")
    body.append_text(turn_text(turn, latest))
    if not turn.done:
        body.append("▌")
    lines = list(body.wrap(console, width))
    if turn.done:
        turn.drawn[key] = lines
    return lines


def speaker_body(speaker: SpeakerState, console: Console, width: int, height: int) -> Text:
    """The last `height` wrapped lines of a speaker's turns, the newest turn in full style.

    Turns are wrapped newest first and only until the panel is full, so the cost of a
    frame does not grow with the length of the debate.
    """
    lines: list[Text] = []
    turns = speaker.turns
    for number in range(len(turns) - 1, -1, -1):
        lines[:0] = turn_lines(turns[number], console, max(10, width), number == len(turns) - 1)
        if len(lines) >= height:
            break
    tail = Text("\n").join(lines[-height:])
    tail.no_wrap = True  # already wrapped to the panel's width
    return tail


def question_text(unit: UnitState, width: int) -> str:
    """The question, cut to at most three lines of the header."""
    return _short(unit.question, 3 * max(20, width - 4))


def header(state: LiveState, unit: UnitState, width: int) -> Panel:
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
    if state.cost is not None:
        line.append(f" · {state.cost()}")
    rows: list[RenderableType] = [line, Text(question_text(unit, width), style="bold")]
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


def _cell(text: str, width: int, right: bool = False) -> str:
    text = _short(text, width)
    return text.rjust(width) if right else text.ljust(width)


def units_table(state: LiveState, focused: UnitState, rows: int, width: int) -> Text:
    """Units in flight (then the latest finished) as fixed-width rows: cheap to draw."""
    live = state.in_flight()
    finished = [unit for unit in state.units.values() if not unit.live]
    finished.sort(key=lambda unit: unit.finished or 0.0, reverse=True)
    shown = live[: max(1, rows)]
    shown += sorted(finished[: max(0, rows - len(shown))], key=lambda unit: unit.index)
    unit_width = min(40, max(12, max((len(unit.unit) for unit in shown), default=12)))
    question_width = max(10, width - unit_width - 4 - 7 - 26 - 8 - 12)
    columns: list[tuple[str, int, bool]] = [
        ("#", 4, True),
        ("unit", unit_width, False),
        ("question", question_width, False),
        ("round", 7, False),
        ("status", 26, False),
        ("lean", 8, False),
    ]
    table = Text(no_wrap=True, overflow="crop")
    table.append("  ".join(_cell(name, size, right) for name, size, right in columns), "bold")
    table.append("\n" + "─" * min(width, sum(size + 2 for _, size, _ in columns)), "dim")
    for unit in shown:
        lean = unit.lean
        cells = (
            f"{'▶' if unit is focused else ''}{unit.index}",
            unit.unit,
            unit.question,
            f"{unit.round}/{unit.total_rounds}".center(7),
            status_text(unit).plain,
            f"{LABELS[lean[0]]} {lean[1]:.2f}" if lean else "–",
        )
        row = "  ".join(
            _cell(value, size, right)
            for value, (_, size, right) in zip(cells, columns, strict=True)
        )
        style = "bold" if unit is focused else ("dim" if not unit.live else "")
        if unit.status == "failed":
            style += " red"
        table.append("\n" + row.rstrip(), style.strip())
    hidden = len(live) + len(finished) - len(shown)
    caption = f"in flight {len(live)} · done {state.done}"
    if state.total:
        caption += f"/{state.total}"
    if state.failed:
        caption += f" · failed {state.failed}"
    if hidden > 0:
        caption += f" · {hidden} more not shown"
    table.append("\n" + caption, "dim")
    return table


def render_frame(state: LiveState, console: Console) -> RenderableType:
    """One frame for the terminal's current size."""
    unit = state.focused()
    if unit is None:
        return Text(f"debate-lab · {state.mode}: waiting for the first unit…", style="dim")
    width, height = console.size.width, console.size.height
    parts: list[RenderableType] = [header(state, unit, width)]
    question_lines = -(-len(question_text(unit, width)) // max(20, width - 4))
    used = 3 + question_lines + len(unit.answers)
    judge = judge_panel(unit, width)
    used += 3 + len(unit.answers)
    table: Text | None = None
    if len(state.units) > 1 or (state.total or 0) > 1:
        rows = max(2, min(len(state.units), (height - used) // 3))
        table = units_table(state, unit, rows, width)
        used += rows + 3
    speakers = unit.speaker_order()
    if speakers:
        room = max(3, height - used - 3)
        column = max(20, width // len(speakers))
        grid = Table.grid(padding=(0, 0))
        for _ in speakers:
            grid.add_column(width=column, no_wrap=True)
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
