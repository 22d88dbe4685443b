"""`debate view RUN_DIR [RUN_DIR ...]`: browse runs in a web page, or export them as one file.

- serves the viewer on 127.0.0.1 (`--port`, default 8322; 0 picks a free one) until
  Ctrl-C; the page reads the run directories afresh on every load, so reloading it
  follows a run that is still being written;
- `--host ADDRESS` other than loopback needs `--token` (the page asks for it);
- `--export FILE` writes one self-contained HTML file instead (no server, no network).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from debate.core.console import console, fail
from debate.core.registry import CommandTable
from debate.errors import DebateInputError

if TYPE_CHECKING:
    from debate.view.server import Viewer

commands = CommandTable()


@commands.command("view")
def view_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run directories (several: shown side by side).")
    ],
    export: Annotated[
        Path | None, typer.Option("--export", help="Write one self-contained HTML file.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).")] = 8322,
    token: Annotated[
        str | None, typer.Option(help="Token the page must send (needed off loopback).")
    ] = None,
) -> None:
    """Browse runs in a web viewer (units, turns, quotes, verdicts, trees, summaries)."""
    from debate.view.data import check_run_dirs, feature_annotators

    try:
        runs = check_run_dirs(run_dirs)
        annotators = feature_annotators()
        if export is not None:
            from debate.view.export import write_export

            size = write_export(export, runs, annotators)
            console.print(f"wrote {export} ({size / 1024:.0f} KiB)", markup=False, highlight=False)
            return
        from debate.view.server import Viewer, check_listen, is_loopback

        check_listen(host, token)
        viewer = Viewer(runs, token=token, loopback=is_loopback(host), annotators=annotators)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(viewer, host, port))
    except DebateInputError as exc:
        fail(*exc.lines)


async def _serve(viewer: Viewer, host: str, port: int) -> None:
    from debate.view.server import start

    runner, url = await start(viewer, host, port)
    typer.echo(f"debate viewer: {url} (Ctrl-C to stop)", err=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
