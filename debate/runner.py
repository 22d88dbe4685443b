"""`debate run` end to end: load, plan, bind models, run the engine, write and print results.

Kept apart from the CLI so scripts, benchmarks and other commands (bench, rewards)
can run a protocol with the same behaviour.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from debate.analysis.report import print_summary, summarize, write_summary
from debate.core.context import LABELS
from debate.core.declarations import Bundle
from debate.core.engine import Engine, ModelBindings, UnitPlan, plan_units
from debate.core.event_log import EventLog
from debate.core.events import (
    Event,
    Subscriber,
    TurnFinished,
    UnitFailed,
    UnitFinished,
    UnitStarted,
    VerdictGiven,
)
from debate.core.loading import load_protocol
from debate.core.provenance import check_resume, experiment_fingerprint, write_run_spec
from debate.core.scenarios import load_scenarios
from debate.core.store import RunStore
from debate.errors import DebateInputError
from debate.models import Model
from debate.models.human import check_annotator, unit_order
from debate.version import __version__


@dataclass
class RunOptions:
    protocol: str
    scenarios: str = "truthfulqa-sample"
    bindings: dict[str, str] = field(default_factory=dict)
    base_urls: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    seed: int = 0
    out: Path = Path("runs/run")
    resume: bool = False
    concurrency: int = 32
    max_connections: int | None = None
    swap: bool | None = None
    repeats: int = 1
    variants: dict[str, list[str]] | None = None
    cache: bool = False
    cache_dir: Path | None = None
    show: bool | None = None
    live: bool = False
    plain: bool = False
    default_model: str = "local"
    executor: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    annotator: str | None = None
    human_port: int = 8321
    force: bool = False
    store_prompts: str = "verdicts"


def default_run_dir(protocol: str) -> Path:
    """`runs/<protocol>-<time>`, the run directory when none is given."""
    return Path("runs") / f"{Path(protocol).stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _versions() -> dict[str, str]:
    versions = {"debate-lab": __version__, "python": platform.python_version()}
    for package in ("torch", "transformers", "openai", "pydantic"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _cache_wrapper(options: RunOptions) -> tuple[Any, list[Any]]:
    if not options.cache:
        return None, []
    from debate.models.cache import CachedModel, default_cache_dir

    directory = options.cache_dir or default_cache_dir()
    made: list[Any] = []

    def wrap(model: Model) -> Model:
        cached = CachedModel(model, directory)
        made.append(cached)
        return cached

    return wrap, made


_QUOTE = re.compile(r"<quote>(.*?)</quote>", re.S | re.I)


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
    chosen, correct = final.get("chosen"), record.get("correct_index")
    if not final.get("valid"):
        line += ": invalid, counted as wrong"
    elif chosen is not None and correct is not None:
        outcome = "right" if chosen == correct else "wrong"
        line += f": the judge chose {LABELS[chosen]} ({outcome})"
    return line


def _subscribers(options: RunOptions, console: Console, total: int) -> tuple[list[Subscriber], Any]:
    show = options.show if options.show is not None else total <= 4
    subscribers: list[Subscriber] = []
    closer: Any = None
    if options.live or options.plain:
        from debate.live.view import make_view  # provided by the live-view feature

        view = make_view(
            console=console, plain=options.plain or not console.is_terminal, total=total
        )
        return [view.handle], view
    if show:
        subscribers.append(TranscriptPrinter(console, several=total > 1))
    elif total > 0:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[failed]} failed"),
            console=console,
            transient=False,
        )
        task = progress.add_task("units", total=total, failed=0)
        failed = 0

        def advance(event: Event) -> None:
            nonlocal failed
            if isinstance(event, UnitFinished):
                progress.advance(task)
            elif isinstance(event, UnitFailed):
                failed += 1
                progress.update(task, advance=1, failed=failed)

        subscribers.append(advance)
        closer = progress
    return subscribers, closer


def run_with_ray(
    bundle: Bundle,
    plans: list[UnitPlan],
    options: RunOptions,
    model_options: dict[str, Any],
    store: RunStore,
    subscribers: list[Subscriber],
) -> None:
    """Shard the units over Ray actors; this process stays the run store's only writer."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise DebateInputError(
            "--executor ray: Ray is not installed; install it with: pip install 'debate-lab[ray]'"
        ) from exc
    from debate.scale import RaySettings, run_on_ray

    run_on_ray(
        bundle,
        [plan for plan in plans if plan.id not in store.done],
        RaySettings(
            address=options.ray_address,
            workers=options.workers,
            gpus_per_worker=options.gpus_per_worker,
            concurrency=options.concurrency,
            bindings=options.bindings,
            base_urls=options.base_urls,
            default_model=options.default_model,
            model_options=model_options,
            cache_dir=str(options.cache_dir) if options.cache else None,
        ),
        store,
        subscribers,
    )


def _named_annotator(bindings: dict[str, str], annotator: str | None) -> dict[str, str]:
    """`human` bound with `--annotator NAME` becomes `human/NAME` (so the spec names them)."""
    if annotator is None:
        return bindings
    check_annotator(annotator)
    return {
        key: f"human/{annotator}" if value == "human" else value for key, value in bindings.items()
    }


def _human_options(options: RunOptions) -> dict[str, Any]:
    return {
        "port": options.human_port,
        "journal_dir": str(options.out),
        "resume": options.resume,
        "seed": options.seed,
    }


def _asks_person(bindings: ModelBindings, bundle: Bundle) -> bool:
    return any(
        bindings.model_string(role, bundle.role_spec(role).name).partition("/")[0] == "human"
        for role in bundle.protocol.roles
    )


def execute_run(options: RunOptions, console: Console) -> dict[str, Any]:
    """Run a protocol as `debate run` does and return the summary."""
    bundle = load_protocol(options.protocol)
    scenarios = load_scenarios(options.scenarios, limit=options.limit, seed=options.seed)
    model_options: dict[str, Any] = {}
    if options.max_connections is not None:
        model_options["max_connections"] = options.max_connections
    wrap, cached_models = _cache_wrapper(options)
    bindings = ModelBindings(
        _named_annotator(options.bindings, options.annotator),
        default=options.default_model,
        base_urls=options.base_urls,
        options=model_options,
        wrap=wrap,
        backend_options={"human": _human_options(options)},
    )
    bindings.check(bundle)
    plans = plan_units(
        bundle,
        scenarios,
        seed=options.seed,
        swap=options.swap,
        repeats=options.repeats,
        variants=options.variants,
    )
    if _asks_person(bindings, bundle):
        if options.executor == "ray":
            raise DebateInputError("--executor ray: a human judge answers in this process only")
        # a person sees the units in a seeded random order, not the data's order
        plans.sort(key=lambda plan: unit_order(options.seed, plan.id))
    models = {
        role: bindings.model_string(role, bundle.role_spec(role).name)
        for role in bundle.protocol.roles
    }
    fingerprint = experiment_fingerprint(
        bundle, scenarios, [(plan.id, plan.seed) for plan in plans], options.seed, models
    )
    differs = check_resume(options.out, fingerprint, force=options.force) if options.resume else []
    store = RunStore(options.out, resume=options.resume)
    write_run_spec(
        options.out,
        {
            "protocol": bundle.protocol.name,
            "fingerprint": fingerprint,
            "seed": options.seed,
            "scenarios": options.scenarios,
            "n_scenarios": len(scenarios),
            "models": models,
            "options": {
                key: (str(value) if isinstance(value, Path) else value)
                for key, value in asdict(options).items()
                if key not in ("show", "live", "plain")
            },
            "versions": _versions(),
            "command": " ".join(sys.argv),
            "resolved": bundle.resolved(),
        },
        resume=options.resume,
        differs=differs,
        bindings={
            "models": models,
            "base_urls": {key or "*": url for key, url in options.base_urls.items()},
        },
    )
    todo = sum(1 for plan in plans if plan.id not in store.done)
    subscribers, closer = _subscribers(options, console, todo)
    event_log = EventLog(options.out)  # for `debate watch --follow` in another terminal
    engine = Engine(
        bundle,
        bindings,
        store=store,
        concurrency=options.concurrency,
        subscribers=[*subscribers, event_log],
        stream_text=getattr(closer, "shows_text", False),  # only the live view shows deltas
        store_prompts=options.store_prompts,
    )

    async def go() -> None:
        try:
            await engine.run(plans)
        finally:
            await bindings.aclose()

    def execute() -> None:
        if options.executor == "ray":
            run_with_ray(bundle, plans, options, model_options, store, engine.subscribers)
        else:
            asyncio.run(go())

    try:
        if closer is not None:
            with closer:
                execute()
        else:
            execute()
    finally:
        try:
            store.close()
        finally:
            event_log.close()
    records, failures = store.records(), store.failures()
    extra: dict[str, Any] = {}
    if cached_models:
        extra["cache"] = {
            "hits": sum(m.hits for m in cached_models),
            "misses": sum(m.misses for m in cached_models),
        }
    summary = summarize(
        records,
        failures,
        protocol=bundle.protocol.name,
        measures=bundle.protocol.summary,
        extra=extra,
    )
    write_summary(options.out, summary)
    event_log.remove()  # the run ended: its records hold everything the log held
    print_summary(summary, console)
    skipped = len(plans) - todo
    note = f" ({skipped} already done)" if skipped else ""
    console.print(f"run directory: {options.out}{note}", markup=False, highlight=False)
    return summary
