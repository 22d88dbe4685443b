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

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from debate.cli import app, console, fail
from debate.errors import DebateInputError


@app.command("watch")
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
    from debate.live import make_view
    from debate.report import print_summary, summarize
    from debate.transcript import TRANSCRIPTS, read_jsonl
    from debate.watch import (
        UNIT_PAUSE,
        check_run_dir,
        failure_events,
        is_live,
        play,
        record_events,
        run_finished,
        watch_records,
    )

    try:
        if speed < 0:
            raise DebateInputError("--speed: must be 0 or more")
        if idle_timeout < 0:
            raise DebateInputError("--idle-timeout: must be 0 or more")
        check_run_dir(run_dir)
        if follow and is_live(run_dir):
            _follow_live(run_dir, unit, plain, idle_timeout)
            return
        total = None
        if run_finished(run_dir):
            ids = [record["id"] for record in read_jsonl(run_dir / TRANSCRIPTS)]
            total = sum(1 for unit_id in ids if unit is None or unit in unit_id)
        items = watch_records(run_dir, follow=follow, idle_timeout=idle_timeout)
        view = make_view(
            console=console,
            plain=plain or not console.is_terminal,
            total=total,
            linger=0.0,
            mode=f"replay ×{speed:g}" if speed else "replay",
        )
        records: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        interrupted = False
        with view:
            try:
                for kind, item in items:
                    if unit is not None and unit not in item.get("id", ""):
                        continue
                    if (records or failures) and speed > 0:
                        time.sleep(UNIT_PAUSE / speed)
                    if kind == "record":
                        records.append(item)
                        play(record_events(item), view.handle, speed)
                    else:
                        failures.append(item)
                        play(failure_events(item), view.handle, speed)
            except KeyboardInterrupt:
                interrupted = True
        if unit is not None and not records and not failures:
            raise DebateInputError(f"--unit: '{unit}': no unit of {run_dir} matches")
        if interrupted:
            console.print("stopped", markup=False, highlight=False)
            return
        if records or failures:
            print_summary(summarize(records, failures), console)
    except DebateInputError as exc:
        fail(*exc.lines)


def _follow_live(run_dir: Path, unit: str | None, plain: bool, idle_timeout: float) -> None:
    """Show a running `debate run` as it goes, then its summary."""
    from debate.events import UnitFailed, UnitFinished
    from debate.live import make_view
    from debate.report import print_summary, summarize
    from debate.watch import live_events, select_unit

    view = make_view(console=console, plain=plain or not console.is_terminal, mode="following")
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    try:
        with view:
            for event in live_events(run_dir, idle_timeout=idle_timeout):
                if not select_unit(unit, event.unit):
                    continue
                view.handle(event)
                if isinstance(event, UnitFinished):
                    records.append(event.record)
                elif isinstance(event, UnitFailed):
                    failures.append({"id": event.unit, "error": event.error})
    except KeyboardInterrupt:
        console.print("stopped", markup=False, highlight=False)
        return
    if records or failures:
        print_summary(summarize(records, failures), console)
