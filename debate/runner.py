"""`debate run` end to end: load, plan, bind models, run the engine, write and print results.

Kept apart from the CLI so scripts, benchmarks and other commands (bench, rewards)
can run a protocol with the same behaviour.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from debate.analysis.report import print_summary, summarize_run, write_summary
from debate.core.costs import Budget, CostMeter, find_prices
from debate.core.declarations import Bundle
from debate.core.engine import Engine, ModelBindings
from debate.core.event_log import EventLog
from debate.core.events import (
    Event,
    Subscriber,
    UnitFailed,
    UnitFinished,
)
from debate.core.loading import load_protocol
from debate.core.planning import ScenarioChecks, UnitPlan, iter_plans, plan_shape, unit_keys
from debate.core.provenance import Fingerprinter, check_resume, write_run_spec
from debate.core.scenarios import Scenario, stream_scenarios
from debate.core.store import RunStore, latest_failures
from debate.errors import DebateInputError
from debate.live.printer import TranscriptPrinter
from debate.models import Model
from debate.models.human import check_annotator, unit_order
from debate.version import __version__


@dataclass
class RunOptions:
    protocol: str
    scenarios: str = "truthfulqa-sample"
    bindings: dict[str, str] = field(default_factory=dict)
    base_urls: dict[str, str] = field(default_factory=dict)
    model_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # request fields by role
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
    prices: Path | None = None
    max_cost: float | None = None
    max_tokens: int | None = None


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


def _subscribers(
    options: RunOptions, console: Console, total: int, meter: CostMeter
) -> tuple[list[Subscriber], Any]:
    show = options.show if options.show is not None else total <= 4
    subscribers: list[Subscriber] = []
    closer: Any = None
    if options.live or options.plain:
        from debate.live.view import make_view  # provided by the live-view feature

        view = make_view(
            console=console,
            plain=options.plain or not console.is_terminal,
            total=total,
            cost=meter.label,
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
            TextColumn("{task.fields[cost]}"),
            console=console,
            transient=False,
        )
        task = progress.add_task("units", total=total, failed=0, cost=meter.label())
        failed = 0

        def advance(event: Event) -> None:
            nonlocal failed
            if isinstance(event, UnitFinished):
                progress.update(task, advance=1, cost=meter.label())
            elif isinstance(event, UnitFailed):
                failed += 1
                progress.update(task, advance=1, failed=failed, cost=meter.label())

        subscribers.append(advance)
        closer = progress
    return subscribers, closer


def run_with_ray(
    bundle: Bundle,
    plans: Iterable[UnitPlan],
    options: RunOptions,
    model_options: dict[str, Any],
    store: RunStore,
    engine: Engine,
) -> str:
    """Shard the units over Ray actors; this process stays the run store's only writer.
    Returns why the run stopped (`completed` or `budget`)."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise DebateInputError(
            "--executor ray: Ray is not installed; install it with: pip install 'debate-lab[ray]'"
        ) from exc
    from debate.scale import RaySettings, run_on_ray

    outcome = run_on_ray(
        bundle,
        plans,
        RaySettings(
            address=options.ray_address,
            workers=options.workers,
            gpus_per_worker=options.gpus_per_worker,
            concurrency=options.concurrency,
            bindings=options.bindings,
            base_urls=options.base_urls,
            model_args=options.model_args,
            default_model=options.default_model,
            model_options=model_options,
            cache_dir=str(options.cache_dir) if options.cache else None,
        ),
        store,
        engine.subscribers,
        budget=engine.budget,
        meter=engine.meter,
    )
    return outcome.engine.stop_reason


def _budget(options: RunOptions, bundle: Bundle, bindings: ModelBindings) -> Budget:
    """The run's meter and budget; a cost budget needs a price for every model."""
    meter = CostMeter(find_prices(options.prices))
    budget = Budget(meter, max_cost=options.max_cost, max_tokens=options.max_tokens)
    budget.check_priced(
        bindings.model_string(role, bundle.role_spec(role).name) for role in bundle.protocol.roles
    )
    return budget


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
    """Run a protocol as `debate run` does and return the summary.

    Scenarios and units are planned lazily and records are dropped once written, so
    memory holds the units in flight, not the run; the summary streams the records back
    from disk. With a budget, the summary's `stop_reason` says whether it stopped the run."""
    bundle = load_protocol(options.protocol)
    shape = plan_shape(
        bundle, swap=options.swap, repeats=options.repeats, variants=options.variants
    )
    checks = ScenarioChecks(bundle)
    fingerprinter = Fingerprinter()

    def survey(scenario: Scenario) -> None:  # each scenario, once, before anything runs
        checks(scenario)
        fingerprinter.add_scenario(scenario)
        fingerprinter.add_units(unit_keys(bundle, scenario, shape, options.seed))

    scenarios = stream_scenarios(
        options.scenarios, limit=options.limit, seed=options.seed, check=survey
    )
    checks.raise_any()
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
        request_fields=options.model_args,
    )
    bindings.check(bundle)
    budget = _budget(options, bundle, bindings)
    person = _asks_person(bindings, bundle)
    if person and options.executor == "ray":
        raise DebateInputError("--executor ray: a human judge answers in this process only")

    def plans() -> Iterable[UnitPlan]:
        planned = iter_plans(
            bundle,
            scenarios,
            seed=options.seed,
            swap=options.swap,
            repeats=options.repeats,
            variants=options.variants,
        )
        if person:
            # a person sees the units in a seeded random order, not the data's order (a run
            # judged by hand is small enough to hold its plans)
            return sorted(planned, key=lambda plan: unit_order(options.seed, plan.id))
        return planned

    models = {
        role: bindings.model_string(role, bundle.role_spec(role).name)
        for role in bundle.protocol.roles
    }
    fingerprint = fingerprinter.result(bundle, options.seed, models)
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
    total = len(scenarios) * shape.per_scenario
    todo = total
    if store.done:
        todo = sum(1 for plan in plans() if plan.id not in store.done)
        for spent in (*store.iter_records(), *latest_failures(options.out).values()):
            budget.meter.add(spent)  # a resumed run's budget counts what was spent before
    subscribers, closer = _subscribers(options, console, todo, budget.meter)
    event_log = EventLog(options.out)  # for `debate watch --follow` in another terminal
    engine = Engine(
        bundle,
        bindings,
        store=store,
        concurrency=options.concurrency,
        subscribers=[*subscribers, event_log],
        stream_text=getattr(closer, "shows_text", False),  # only the live view shows deltas
        store_prompts=options.store_prompts,
        budget=budget,
        keep_records=False,  # records are on disk; memory holds only the units in flight
    )

    def execute() -> None:
        if options.executor == "ray":
            engine.stop_reason = run_with_ray(
                bundle, plans(), options, model_options, store, engine
            )
        else:
            engine.run_to_end(plans())

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
    extra: dict[str, Any] = {"stop_reason": engine.stop_reason}
    if budget.active:
        extra["budget"] = {
            "max_cost_usd": options.max_cost,
            "max_tokens": options.max_tokens,
            "spent_usd": round(budget.meter.usd, 6) if budget.meter.prices else None,
            "spent_tokens": budget.meter.tokens,
        }
    if cached_models:
        extra["cache"] = {
            "hits": sum(m.hits for m in cached_models),
            "misses": sum(m.misses for m in cached_models),
        }
    summary = summarize_run(
        options.out,
        protocol=bundle.protocol.name,
        measures=bundle.protocol.summary,
        extra=extra,
        prices=budget.meter.prices,
    )
    write_summary(options.out, summary)
    event_log.remove()  # the run ended: its records hold everything the log held
    print_summary(summary, console)
    skipped = total - todo
    note = f" ({skipped} already done)" if skipped else ""
    console.print(f"run directory: {options.out}{note}", markup=False, highlight=False)
    if engine.stop_reason == "budget":
        console.print(
            f"budget reached ({budget.meter.label()}): units left unscheduled; "
            "continue with --resume and a larger budget",
            markup=False,
            highlight=False,
        )
    return summary
