"""The `debate` command line (typer).

Core commands live here: `run`, `validate`, `list`, `report`, `version`. Each feature
package declares its own commands in a `CommandTable`; `add_feature_commands` adds them
from the feature table (`debate.features`), once, into the top level or the `train` and
`export` groups made here. Every user error prints one line per problem and exits with
status 2; there are no tracebacks for bad input.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from debate.core.console import (
    PricesOption,
    check_base_url,
    console,
    errors,
    fail,
    parse_bindings,
    parse_model_args,
    parse_variants,
)
from debate.core.costs import check_budget
from debate.errors import EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_UNITS_FAILED, DebateInputError
from debate.version import __version__

app = typer.Typer(
    name="debate",
    help="Run declarative debate and argumentation protocols between language-model agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(
    name="train",
    help="Train models (needs the `train` extra): dpo, grpo, justifiable.",
    no_args_is_help=True,
)
export_app = typer.Typer(name="export", help="Export data derived from runs.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(export_app, name="export")
GROUPS = {"": app, "train": train_app, "export": export_app}
MAX_REPEATS = 10_000
"""The largest `--repeats`."""


@app.command()
def run(
    protocol: Annotated[str, typer.Argument(help="Protocol name or path to a protocol YAML.")],
    scenarios: Annotated[
        str, typer.Option("--scenarios", "-s", help="Scenario set name, YAML, or data path.")
    ] = "truthfulqa-sample",
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="ROLE=MODEL or MODEL (all roles). Repeatable."),
    ] = None,
    model_base_url: Annotated[
        list[str] | None,
        typer.Option("--model-base-url", help="ROLE=URL or URL for openai/ models. Repeatable."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Use the first N scenarios.")] = None,
    seed: Annotated[int, typer.Option(help="Run seed (answer order, assignments, sampling).")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/<protocol>-<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip units already in --out; retry failed ones.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Units in flight at once.")] = 32,
    max_connections: Annotated[
        int | None, typer.Option(help="Concurrent requests per model backend.")
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--model-arg",
            help="ROLE=KEY=VALUE (or KEY=VALUE): an extra request field for openai/ models, "
            "e.g. judge=chat_template_kwargs.enable_thinking=false. Repeatable.",
        ),
    ] = None,
    swap: Annotated[
        bool | None, typer.Option(help="Run both answer orders (default: as the protocol says).")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Repeat each unit K times.")] = 1,
    variant: Annotated[
        list[str] | None, typer.Option(help="KEY=V1,V2 variant axis (e.g. condition=none,fallacy).")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="Shorthand for --variant condition=...")
    ] = None,
    fallacy: Annotated[
        str | None, typer.Option(help="LOGICOM: restrict the fallacy helper to one class.")
    ] = None,
    cache: Annotated[bool, typer.Option(help="Cache model calls on disk.")] = False,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Cache folder (default ~/.cache/debate-lab/calls).")
    ] = None,
    show: Annotated[
        bool | None, typer.Option(help="Print transcripts (default: when 4 units or fewer).")
    ] = None,
    live: Annotated[bool, typer.Option(help="Live terminal view of the running debates.")] = False,
    plain: Annotated[bool, typer.Option(help="Print events as plain lines.")] = False,
    executor: Annotated[
        str, typer.Option(help="local, or ray to shard units over a Ray cluster.")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Ray worker actors (default: one per CPU or GPU).")
    ] = None,
    gpus_per_worker: Annotated[float, typer.Option(help="GPUs reserved by each Ray worker.")] = 0.0,
    annotator: Annotated[
        str | None, typer.Option(help="Name of the person judging (with --model ROLE=human).")
    ] = None,
    human_port: Annotated[
        int, typer.Option(help="Port of the human-judge page on 127.0.0.1 (0: any free one).")
    ] = 8321,
    force: Annotated[
        bool, typer.Option(help="With --resume: continue a folder of another experiment.")
    ] = False,
    store_prompts: Annotated[
        str, typer.Option(help="Exact messages kept in records: verdicts (default) or all calls.")
    ] = "verdicts",
    prices: PricesOption = None,
    max_cost: Annotated[
        float | None,
        typer.Option(help="Stop starting units once the next would pass this many US dollars."),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Stop starting units once the next would pass this many tokens."),
    ] = None,
) -> None:
    """Run a protocol over scenarios and write a run directory."""
    from debate.runner import RunOptions, default_run_dir, execute_run

    try:
        variants = parse_variants(variant or [])
        if condition:
            variants["condition"] = [c.strip() for c in condition.split(",") if c.strip()]
        if fallacy:
            from debate.logicom.fallacies import check_fallacy_class

            try:
                variants["fallacy"] = [check_fallacy_class(fallacy)]
            except ValueError as exc:
                raise DebateInputError(f"--fallacy: {exc}") from exc
        options = RunOptions(
            protocol=protocol,
            scenarios=scenarios,
            bindings=parse_bindings(model or [], "--model"),
            base_urls=parse_bindings(model_base_url or [], "--model-base-url"),
            model_args=parse_model_args(model_arg or []),
            limit=limit,
            seed=seed,
            out=out or default_run_dir(protocol),
            resume=resume,
            concurrency=concurrency,
            max_connections=max_connections,
            swap=swap,
            repeats=repeats,
            variants=variants or None,
            cache=cache,
            cache_dir=cache_dir,
            show=show,
            live=live,
            plain=plain,
            executor=executor,
            ray_address=ray_address,
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            annotator=annotator,
            human_port=human_port,
            force=force,
            store_prompts=store_prompts,
            prices=prices,
            max_cost=max_cost,
            max_tokens=max_tokens,
        )
        check_budget(max_cost, max_tokens)
        if executor not in ("local", "ray"):
            raise DebateInputError(f"--executor: unknown executor '{executor}' (local or ray)")
        if workers is not None and workers < 1:
            raise DebateInputError("--workers: must be at least 1")
        if limit is not None and limit < 1:
            raise DebateInputError("--limit: must be at least 1")
        if concurrency < 1:
            raise DebateInputError("--concurrency: must be at least 1")
        if not 1 <= repeats <= MAX_REPEATS:
            raise DebateInputError(f"--repeats: must be between 1 and {MAX_REPEATS:,}")
        for url in options.base_urls.values():
            check_base_url(url, "--model-base-url")
        if store_prompts not in ("verdicts", "all"):
            raise DebateInputError(f"--store-prompts: '{store_prompts}': expected verdicts or all")
        if force and not resume:
            raise DebateInputError("--force: only with --resume")
        summary = execute_run(options, console)
    except DebateInputError as exc:
        fail(*exc.lines)
    failed = int(summary.get("n_failed", 0) or 0)
    if failed:
        typer.echo(
            f"{failed} unit(s) failed (reasons in {options.out / 'failures.jsonl'}); "
            "rerun with --resume to retry them",
            err=True,
        )
        raise typer.Exit(EXIT_UNITS_FAILED)
    if summary.get("stop_reason") == "budget":
        raise typer.Exit(EXIT_BUDGET)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Declaration files or folders to check.")],
) -> None:
    """Check agent, judge, protocol and scenario-set files; one line per problem."""
    from debate.core.loading import validate_file

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found:
                fail(f"{path}: a folder holding no .yaml declarations")
            files += found
        elif path.exists():
            files.append(path)
        else:
            fail(f"{path}: no such file")
    problems = [line for file in files for line in validate_file(file)]
    if problems:
        fail(*problems)
    console.print(f"{len(files)} file(s) valid", markup=False)


@app.command(name="list")
def list_declarations(
    kind: Annotated[str, typer.Argument(help="protocols, agents, judges or scenarios")],
) -> None:
    """Show the available declarations of one kind, with their descriptions."""
    from rich.table import Table

    from debate.core import library

    if kind not in library.KINDS:
        fail(f"list: unknown kind '{kind}' (choose from {', '.join(library.KINDS)})")
    table = Table(title=kind)
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("file", style="dim")
    for entry in library.available(kind):
        table.add_row(entry.name, entry.description, str(entry.path))
    console.print(table)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print summary JSON.")] = False,
    prices: PricesOption = None,
    write: Annotated[
        bool | None,
        typer.Option(help="Write summary.json into the run folder (default: when writable)."),
    ] = None,
) -> None:
    """Recompute and print a run's summary (judge accuracy with CIs, invalid counts, tokens
    and cost), streaming the records from disk."""
    import json

    from debate.analysis.report import print_summary, summarize_run, write_summary
    from debate.core.costs import find_prices

    try:
        kept = _run_facts(run_dir)
        summary = summarize_run(run_dir, extra=kept, prices=find_prices(prices))
    except DebateInputError as exc:
        fail(*exc.lines)
    if json_output:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary, console)
    if write or (write is None and os.access(run_dir, os.W_OK)):
        try:
            write_summary(run_dir, summary)
        except OSError as exc:  # a read-only run folder: the summary was printed all the same
            if write:
                fail(f"{run_dir}: cannot write summary.json ({exc.strerror})")
            typer.echo(f"{run_dir}: summary.json not written ({exc.strerror})", err=True)


def _run_facts(run_dir: Path) -> dict[str, Any]:
    """What only the run itself knew (why it stopped, its budget, cache counts), kept from
    its summary.json when a report is recomputed."""
    import json

    try:
        previous = json.loads((run_dir / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict):
        return {}
    return {key: previous[key] for key in ("stop_reason", "budget", "cache") if key in previous}


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"debate-lab {__version__} (Python {platform.python_version()})")


_commands_added = False


def add_feature_commands() -> None:
    """Add every feature's commands (from the feature table) to the app, once."""
    global _commands_added
    if _commands_added:
        return
    _commands_added = True
    from debate.features import FEATURES

    for feature in FEATURES:
        for entry in feature.commands.entries if feature.commands else ():
            GROUPS[entry.group].command(entry.name)(entry.function)


def _refuse(*lines: str) -> None:
    """`fail` outside the app: print the lines, exit with the bad-input status."""
    for line in lines:
        typer.echo(line, err=True)
    raise SystemExit(EXIT_BAD_INPUT)


def main(argv: list[str] | None = None) -> Any:
    add_feature_commands()
    try:
        result = app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
        if isinstance(result, int):  # a typer.Exit's code, returned outside standalone mode
            raise SystemExit(result)
        return result
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except TyperException as exc:  # a bad option or argument: one line, status 2
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help was printed already
            raise SystemExit(0) from None
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "debate"
        _refuse(f"{command}: {exc.format_message()}")
    except typer.Abort:
        errors.print("interrupted; finished units are saved (continue with --resume)")
        raise SystemExit(130) from None
    except DebateInputError as exc:
        _refuse(*exc.lines)
    except KeyboardInterrupt:
        errors.print("interrupted; finished units are saved (continue with --resume)")
        raise SystemExit(130) from None
    except OSError as exc:  # a file or folder the user named that the system refuses
        where = f"{exc.filename}: " if exc.filename else ""
        _refuse(f"{where}{exc.strerror or exc}")


if __name__ == "__main__":
    main()
