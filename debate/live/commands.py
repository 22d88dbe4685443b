"""`debate watch RUN_DIR`: replay a run's transcripts in the live view, or follow a running one.

- `--unit ID` replays the units whose id is ID or contains it (`truthfulqa-3/swap`).
- `--speed X` scales the playback (12 words/s at 1; 0 shows everything at once).
- `--plain` (or stdout not a terminal) prints the plain event lines of `debate run --plain`.
- `--follow/--no-follow`: on a run still being written, follow it until it writes its
  summary or `--idle-timeout` seconds pass with nothing new; Ctrl-C stops at any time.
  A `debate run` shows turn by turn, units in flight included, from the event log it
  keeps while it runs; other writers' units show when they finish.
At the end it prints the run's summary table (the same as `debate report`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from debate.core.console import console, fail
from debate.core.events import Event, UnitFailed, UnitFinished
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

commands = CommandTable()


@commands.command("watch")
def watch_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (finished or being written).")],
    unit: Annotated[
        str | None, typer.Option("--unit", help="Replay only units whose id contains this.")
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Playback speed (1 = 12 words/s; 0 = no pauses).")
    ] = 1.0,
    plain: Annotated[bool, typer.Option(help="Print events as plain lines.")] = False,
    follow: Annotated[
        bool, typer.Option(help="Keep tailing a run that is still being written.")
    ] = True,
    idle_timeout: Annotated[
        float, typer.Option(help="Stop following after this many seconds with no new unit.")
    ] = 300.0,
) -> None:
    """Replay a run's debates in the live view; follow a run that is still going."""
    from debate.analysis.report import print_summary, run_measures, summarize
    from debate.core.store import TRANSCRIPTS, read_jsonl
    from debate.live.view import make_view
    from debate.live.watch import (
        check_run_dir,
        is_live,
        live_events,
        replayed,
        run_finished,
        select_unit,
        watch_records,
    )

    try:
        if speed < 0:
            raise DebateInputError("--speed: must be 0 or more")
        if idle_timeout < 0:
            raise DebateInputError("--idle-timeout: must be 0 or more")
        check_run_dir(run_dir)
        plain = plain or not console.is_terminal
        following = follow and is_live(run_dir)
        if following:  # a running `debate run`, turn by turn from its event log
            view = make_view(console=console, plain=plain, mode="following")
            events: Iterator[Event] = (
                event
                for event in live_events(run_dir, idle_timeout=idle_timeout)
                if select_unit(unit, event.unit)
            )
        else:
            total = None
            if run_finished(run_dir):
                ids = [record["id"] for record in read_jsonl(run_dir / TRANSCRIPTS)]
                total = sum(1 for unit_id in ids if select_unit(unit, unit_id))
            view = make_view(
                console=console,
                plain=plain,
                total=total,
                linger=0.0,
                mode=f"replay ×{speed:g}" if speed else "replay",
            )
            items = watch_records(run_dir, follow=follow, idle_timeout=idle_timeout)
            events = replayed(items, unit, speed)
        records, failures, interrupted = _show(view, events)
        if not following and unit is not None and not records and not failures:
            raise DebateInputError(f"--unit: '{unit}': no unit of {run_dir} matches")
        if interrupted:
            console.print("stopped", markup=False, highlight=False)
            return
        if records or failures:
            print_summary(summarize(records, failures, measures=run_measures(run_dir)), console)
    except DebateInputError as exc:
        fail(*exc.lines)


def _show(
    view: Any, events: Iterator[Event]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Hand the events to the view; the records and failures they ended with, and
    whether Ctrl-C stopped it."""
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    with view:
        try:
            for event in events:
                view.handle(event)
                if isinstance(event, UnitFinished):
                    records.append(event.record)
                elif isinstance(event, UnitFailed):
                    failures.append({"id": event.unit, "error": event.error})
        except KeyboardInterrupt:
            return records, failures, True
    return records, failures, False
